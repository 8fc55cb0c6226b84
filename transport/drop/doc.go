// Package drop receives issuer files.
//
// Banks ("issuers") upload OpenPGP-encrypted files with nothing but the stock
// OpenSSH sftp client. Two ways in are offered:
//
//   - [Server], a built-in SFTP server. Each issuer logs in with its own name
//     and registered public key and sees only its own jail: incoming/ (write
//     only: put and list its finished files) and outbox/ (read only: get and
//     list). An upload is written to a hidden temporary name and becomes
//     visible, and is announced with Server.Arrived, only when the client
//     closes it after a complete transfer.
//
//   - [Watcher], for bureaus that keep OpenSSH in front: it watches a plain
//     drop directory per issuer and announces files once they stop changing.
//
// Everything an issuer may not do is refused and reported through
// Server.Refused so that the daemon can write it to the audit log.
//
// What the stock client (OpenSSH 9.2) sends for "put local incoming/x":
// REALPATH "." once per session, STAT /incoming/x (is it a directory?),
// OPEN /incoming/x with WRITE|CREAT|TRUNC, WRITEs, CLOSE. No SETSTAT, no
// RENAME. "put -p" adds an FSETSTAT with the local mode and times before
// the CLOSE; a mode beyond 0600 is refused and fails that upload. "reput"
// (resume) opens with APPEND and is refused. "put -f" would send
// fsync@openssh.com, which this server does not advertise, so the client
// skips it; the server fsyncs every file before it is announced anyway.
package drop
