//go:build !unix

package main

// flockFile takes no lock where the platform has no flock: rebuild then relies on the
// operator having stopped every service, as the README says.
func flockFile(string, bool) (release func(), held bool, err error) {
	return func() {}, false, nil
}
