# dataprep — build, test and demo. `make test` installs the Debian packages the
# tests need (they start a real SoftHSM2 token, sshd, sftp and gpg) when missing.
GO      ?= go
BIN     := bin/dataprep
FUZZTIME ?= 30s
DEB_PKGS := softhsm2 openssh-server openssh-client gnupg openssl

.PHONY: all build test deps run demo bench fuzz fuzz-seed lint clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/dataprep
	$(GO) build -trimpath -o bin/dataprep-auditverify ./cmd/dataprep-auditverify
	$(GO) build -trimpath -o bin/dataprep-testgen ./cmd/dataprep-testgen

# deps installs what the real-parts tests need, only when it is missing.
deps:
	@missing=""; \
	[ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null || missing="$$missing softhsm2"; \
	[ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	command -v sftp >/dev/null && command -v ssh-keygen >/dev/null || missing="$$missing openssh-client"; \
	command -v gpg >/dev/null || missing="$$missing gnupg"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 9m ./...

# fuzz-seed runs every fuzz target on its seed corpus only (what `go test` does); fuzz explores.
fuzz: deps
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# run: a development data room on its embedded defaults (SoftHSM token in ./.home).
run: build deps
	./scripts/dev-home.sh .home
	./$(BIN) daemon --home .home

# demo: walk a synthetic issuer file from gpg and sftp to a prepared job.
demo: build deps
	./scripts/demo.sh

# bench: drop → ready through the daemon next to gpg, a gpg|awk|gpg shell baseline and
# go-crypto on the same file; peak RSS; audit rates (scripts/bench.sh says what each is).
# BENCH_RECORDS=N (default 1000000), BENCH_BIG=1 adds 10M records, BENCH_PROFILE=1 a CPU
# profile, BENCH_OUT=DIR keeps the results there.
bench: build deps
	./scripts/bench.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

clean:
	rm -rf bin .home demo-home
