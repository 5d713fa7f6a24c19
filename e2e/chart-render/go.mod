// Only here so that the GOPATH-mode build of install.sh resolves the /v3 import paths of sprig
// and semver from Debian's sources (Go's minimal module compatibility); nothing is fetched.
module chart-render

go 1.19
