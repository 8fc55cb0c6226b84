package drop

// CheckIssuerName vets an issuer name before it is registered: it becomes the
// SSH login name and the jail's directory name, so the daemon refuses at
// registration what the drop would refuse at login.
func CheckIssuerName(name string) error { return checkIssuer(name) }
