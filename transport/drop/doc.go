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
package drop
