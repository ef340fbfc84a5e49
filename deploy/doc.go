// Package deploy holds the packaging operators install Latchkey with — the
// container image's build script, the systemd unit (systemd/) and the Helm
// chart (helm/latchkey) — and the tests that keep each of them building and
// configured as the README documents. It has no Go code of its own; the
// Containerfile is at the repository root.
package deploy
