// Package state is the daemon's embedded store (bbolt): people, issuers,
// machines, jobs and requests, each a JSON value in its own bucket. Every
// change is one bbolt transaction, so a crash leaves either the old or the new
// record, never half of one. The store holds no cardholder data: jobs carry
// hashes, counts and states, never records.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dataprep/dataprep/pipeline/people"
)

var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrDuplicate = errors.New("duplicate file")
)

var (
	bPeople   = []byte("people")
	bIssuers  = []byte("issuers")
	bMachines = []byte("machines")
	bJobs     = []byte("jobs")
	bRequests = []byte("requests")
	bHashes   = []byte("file-hashes") // SHA-256 of every file ever received → job id
	bMeta     = []byte("meta")
)

// Store is the open database.
type Store struct{ db *bolt.DB }

// Open opens or creates the store at path (mode 0600).
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("opening state store %s: another dataprep process holds it (is the daemon running?)", path)
		}
		return nil, fmt.Errorf("opening state store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bPeople, bIssuers, bMachines, bJobs, bRequests, bHashes, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("preparing state store: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

func get[T any](tx *bolt.Tx, bucket []byte, key string) (T, error) {
	var v T
	raw := tx.Bucket(bucket).Get([]byte(key))
	if raw == nil {
		return v, fmt.Errorf("%s %q: %w", bucket, key, ErrNotFound)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("decoding %s %q: %w", bucket, key, err)
	}
	return v, nil
}

func put(tx *bolt.Tx, bucket []byte, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s %q: %w", bucket, key, err)
	}
	return tx.Bucket(bucket).Put([]byte(key), raw)
}

func list[T any](tx *bolt.Tx, bucket []byte) ([]T, error) {
	var out []T
	err := tx.Bucket(bucket).ForEach(func(k, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("decoding %s %q: %w", bucket, k, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// update loads key from bucket, lets fn change it and stores it, in one transaction.
func update[T any](s *Store, bucket []byte, key string, fn func(*T) error) (T, error) {
	var v T
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if v, err = get[T](tx, bucket, key); err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return err
		}
		return put(tx, bucket, key, v)
	})
	return v, err
}

// nextID gives a readable, typeable id: prefix and a zero-padded sequence.
func nextID(tx *bolt.Tx, bucket []byte, prefix string) (string, error) {
	n, err := tx.Bucket(bucket).NextSequence()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%06d", prefix, n), nil
}

// ---- people ----

// AddPerson stores a new account; ErrExists if the name is taken.
func (s *Store) AddPerson(p people.Person) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bPeople).Get([]byte(p.Name)) != nil {
			return fmt.Errorf("user %q: %w", p.Name, ErrExists)
		}
		return put(tx, bPeople, p.Name, p)
	})
}

// Person returns one account.
func (s *Store) Person(name string) (p people.Person, err error) {
	err = s.db.View(func(tx *bolt.Tx) error { p, err = get[people.Person](tx, bPeople, name); return err })
	return p, err
}

// UpdatePerson changes one account in a transaction.
func (s *Store) UpdatePerson(name string, fn func(*people.Person) error) (people.Person, error) {
	return update(s, bPeople, name, fn)
}

// People lists all accounts by name.
func (s *Store) People() (ps []people.Person, err error) {
	err = s.db.View(func(tx *bolt.Tx) error { ps, err = list[people.Person](tx, bPeople); return err })
	return ps, err
}

// CountRole counts accounts with role r.
func (s *Store) CountRole(r people.Role) (int, error) {
	ps, err := s.People()
	n := 0
	for _, p := range ps {
		if p.Role == r {
			n++
		}
	}
	return n, err
}

// ---- issuers ----

// Issuer is a bank that drops files. Its keys are public: the OpenPGP key
// that must sign its files and the SSH key it logs in to the drop with.
type Issuer struct {
	Name           string    `json:"name"`
	SigningKey     string    `json:"signing_key"` // armored OpenPGP public key
	SigningFpr     string    `json:"signing_fingerprint"`
	SSHKey         string    `json:"ssh_key"` // authorized_keys line
	SSHFingerprint string    `json:"ssh_fingerprint"`
	Profile        string    `json:"profile,omitempty"` // issuer input profile (TOML); empty = the embedded default
	Created        time.Time `json:"created"`
	CreatedBy      string    `json:"created_by"`
	ApprovedBy     string    `json:"approved_by,omitempty"`
}

// AddIssuer stores a new issuer; ErrExists if the name is taken.
func (s *Store) AddIssuer(i Issuer) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bIssuers).Get([]byte(i.Name)) != nil {
			return fmt.Errorf("issuer %q: %w", i.Name, ErrExists)
		}
		return put(tx, bIssuers, i.Name, i)
	})
}

// Issuer returns one issuer.
func (s *Store) Issuer(name string) (i Issuer, err error) {
	err = s.db.View(func(tx *bolt.Tx) error { i, err = get[Issuer](tx, bIssuers, name); return err })
	return i, err
}

// Issuers lists all issuers by name.
func (s *Store) Issuers() (is []Issuer, err error) {
	err = s.db.View(func(tx *bolt.Tx) error { is, err = list[Issuer](tx, bIssuers); return err })
	return is, err
}

// ---- jobs ----

// JobState is where a job is in its life (design.md, "The job").
type JobState string

const (
	Received  JobState = "received"
	Preparing JobState = "preparing"
	Ready     JobState = "ready"
	Rejected  JobState = "rejected"
	Pushed    JobState = "pushed"
	Deleted   JobState = "deleted"
	Closed    JobState = "closed"
)

// Counts are what preparation saw. Expected (accepted) counts are hidden from
// machine operators by the API, not here.
type Counts struct {
	Read     int `json:"read"`
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
}

// Job is one issuer file.
type Job struct {
	ID       string    `json:"id"`
	Issuer   string    `json:"issuer"`
	FileName string    `json:"file_name"`
	SHA256   string    `json:"sha256"`
	Size     int64     `json:"size"`
	Received time.Time `json:"received"`
	State    JobState  `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	// CryptoFailure: rejected at the OpenPGP layer (decryption, integrity,
	// signature), which the start rate limit counts.
	CryptoFailure bool   `json:"crypto_failure,omitempty"`
	Counts        Counts `json:"counts"`
	Signer        string `json:"signer,omitempty"` // fingerprint that signed the file
	Cipher        string `json:"cipher,omitempty"`
	StartReq      string `json:"start_request,omitempty"`
	StartedBy     string `json:"started_by,omitempty"`
	Approver      string `json:"approved_by,omitempty"`
	Machine       string `json:"machine,omitempty"`
	// Production file facts, fixed when the job becomes ready (invariant 6).
	OutputSHA256 string    `json:"output_sha256,omitempty"`
	OutputSize   int64     `json:"output_size,omitempty"`
	Pushed       time.Time `json:"pushed,omitzero"`
	ReleasedBy   string    `json:"released_by,omitempty"`
	// Blind counts reported by the machine operator after production.
	Reported *Reported `json:"reported,omitempty"`
	// CountsOK: the reported counts reconcile with the accepted records, or
	// a supervisor resolved the difference with a reason.
	CountsOK   bool      `json:"counts_ok"`
	Resolution string    `json:"resolution,omitempty"`
	DeletedBy  string    `json:"deleted_by,omitempty"` // requester of the supervised deletion
	DeletionOK string    `json:"deletion_approved_by,omitempty"`
	Updated    time.Time `json:"updated"`
}

// Reported are the machine operator's blind counts.
type Reported struct {
	Good            int       `json:"good"`
	Spoiled         int       `json:"spoiled"`
	Samples         int       `json:"samples"`
	ReturnedToVault int       `json:"returned_to_vault"`
	By              string    `json:"by"`
	At              time.Time `json:"at"`
}

// CreateJob assigns an id and stores j, refusing a file whose SHA-256 was
// seen before (ErrDuplicate, naming the first job) in the same transaction.
func (s *Store) CreateJob(j Job) (Job, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if prev := tx.Bucket(bHashes).Get([]byte(j.SHA256)); prev != nil {
			return fmt.Errorf("%w: same bytes as job %s", ErrDuplicate, prev)
		}
		id, err := nextID(tx, bJobs, "J")
		if err != nil {
			return err
		}
		j.ID = id
		if err := tx.Bucket(bHashes).Put([]byte(j.SHA256), []byte(id)); err != nil {
			return err
		}
		return put(tx, bJobs, id, j)
	})
	return j, err
}

// Job returns one job.
func (s *Store) Job(id string) (j Job, err error) {
	err = s.db.View(func(tx *bolt.Tx) error { j, err = get[Job](tx, bJobs, id); return err })
	return j, err
}

// UpdateJob changes one job in a transaction.
func (s *Store) UpdateJob(id string, fn func(*Job) error) (Job, error) {
	return update(s, bJobs, id, fn)
}

// Jobs lists all jobs, oldest first.
func (s *Store) Jobs() (js []Job, err error) {
	err = s.db.View(func(tx *bolt.Tx) error { js, err = list[Job](tx, bJobs); return err })
	sort.Slice(js, func(a, b int) bool { return js[a].ID < js[b].ID })
	return js, err
}

// ---- requests ----

// RequestState is where a dual-control request stands.
type RequestState string

const (
	Pending  RequestState = "pending"
	Approved RequestState = "approved"
	Denied   RequestState = "denied"
	Expired  RequestState = "expired"
)

// Request is one dual-controlled action waiting for a second person.
type Request struct {
	ID            string            `json:"id"`
	Action        string            `json:"action"`
	Target        string            `json:"target"`
	Params        map[string]string `json:"params,omitempty"`
	Requester     string            `json:"requester"`
	ApproverRoles []people.Role     `json:"approver_roles"`
	Created       time.Time         `json:"created"`
	Expires       time.Time         `json:"expires"`
	State         RequestState      `json:"state"`
	Decider       string            `json:"decider,omitempty"`
	Reason        string            `json:"reason,omitempty"`
	Decided       time.Time         `json:"decided,omitzero"`
	Result        string            `json:"result,omitempty"`
}

// ReserveRequestID takes the next request id without storing a request, so
// that the request's audit entry can name it before the request exists.
func (s *Store) ReserveRequestID() (id string, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error { id, err = nextID(tx, bRequests, "R"); return err })
	return id, err
}

// CreateRequest stores r, assigning an id unless r has a reserved one.
func (s *Store) CreateRequest(r Request) (Request, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if r.ID == "" {
			id, err := nextID(tx, bRequests, "R")
			if err != nil {
				return err
			}
			r.ID = id
		} else if tx.Bucket(bRequests).Get([]byte(r.ID)) != nil {
			return fmt.Errorf("request %s: %w", r.ID, ErrExists)
		}
		return put(tx, bRequests, r.ID, r)
	})
	return r, err
}

// Request returns one request.
func (s *Store) Request(id string) (r Request, err error) {
	err = s.db.View(func(tx *bolt.Tx) error { r, err = get[Request](tx, bRequests, id); return err })
	return r, err
}

// UpdateRequest changes one request in a transaction.
func (s *Store) UpdateRequest(id string, fn func(*Request) error) (Request, error) {
	return update(s, bRequests, id, fn)
}

// Requests lists all requests, oldest first.
func (s *Store) Requests() (rs []Request, err error) {
	err = s.db.View(func(tx *bolt.Tx) error { rs, err = list[Request](tx, bRequests); return err })
	sort.Slice(rs, func(a, b int) bool { return rs[a].ID < rs[b].ID })
	return rs, err
}

// ---- machines ----

// Machine is a personalization machine's computer: where its production
// files go, how we reach it, and who may release data to it.
type Machine struct {
	Name       string    `json:"name"`
	User       string    `json:"user"`
	Host       string    `json:"host"`
	Port       int       `json:"port"`
	Dir        string    `json:"dir"`
	HostKey    string    `json:"host_key"`     // pinned, authorized_keys form
	SSHKeyFile string    `json:"ssh_key_file"` // our client key for it, under the home (0600)
	PGPKey     string    `json:"pgp_key"`      // armored certificate production files are encrypted to
	PGPFpr     string    `json:"pgp_fingerprint"`
	Layout     string    `json:"layout,omitempty"` // machine layout profile (TOML); empty = the embedded default
	Operators  []string  `json:"operators,omitempty"`
	Created    time.Time `json:"created"`
	CreatedBy  string    `json:"created_by"`
	ApprovedBy string    `json:"approved_by,omitempty"`
	// Current is the job whose production file was pushed to the machine and
	// whose supervised deletion has not yet been confirmed. While it is set,
	// nothing else is pushed there (invariant 2).
	Current string `json:"current,omitempty"`
}

// AddMachine stores a new machine; ErrExists if the name is taken.
func (s *Store) AddMachine(m Machine) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bMachines).Get([]byte(m.Name)) != nil {
			return fmt.Errorf("machine %q: %w", m.Name, ErrExists)
		}
		return put(tx, bMachines, m.Name, m)
	})
}

// Machine returns one machine.
func (s *Store) Machine(name string) (m Machine, err error) {
	err = s.db.View(func(tx *bolt.Tx) error { m, err = get[Machine](tx, bMachines, name); return err })
	return m, err
}

// UpdateMachine changes one machine in a transaction.
func (s *Store) UpdateMachine(name string, fn func(*Machine) error) (Machine, error) {
	return update(s, bMachines, name, fn)
}

// Machines lists all machines by name.
func (s *Store) Machines() (ms []Machine, err error) {
	err = s.db.View(func(tx *bolt.Tx) error { ms, err = list[Machine](tx, bMachines); return err })
	return ms, err
}

// UpdateJobAndMachine changes a job and a machine in one transaction, so
// that "pushed" and "the machine holds it" (or "deleted" and "the machine
// is free") are never seen apart.
func (s *Store) UpdateJobAndMachine(job, machine string, fn func(*Job, *Machine) error) (j Job, m Machine, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		if j, err = get[Job](tx, bJobs, job); err != nil {
			return err
		}
		if m, err = get[Machine](tx, bMachines, machine); err != nil {
			return err
		}
		if err := fn(&j, &m); err != nil {
			return err
		}
		if err := put(tx, bJobs, job, j); err != nil {
			return err
		}
		return put(tx, bMachines, machine, m)
	})
	return j, m, err
}
