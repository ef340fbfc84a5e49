// Package sdnotify tells systemd how the service is doing over its
// notification socket ($NOTIFY_SOCKET, see sd_notify(3)), so that a
// Type=notify unit counts as started only once Latchkey accepts connections.
// Outside systemd (no socket named) it does nothing. It never decides when
// the process is ready; the caller does.
package sdnotify

import (
	"fmt"
	"net"
	"strings"
)

// Notify sends state (newline-separated assignments such as "READY=1") to
// the notification socket named by socket, the value of $NOTIFY_SOCKET. It
// reports whether a message was sent: false, with no error, when socket is
// empty. A name starting with "@" is an abstract socket.
func Notify(socket, state string) (bool, error) {
	if socket == "" {
		return false, nil
	}
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return false, fmt.Errorf("sdnotify: NOTIFY_SOCKET %q is neither a path nor an abstract socket", socket)
	}
	// Go maps a leading "@" to the abstract namespace on Linux.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	return true, nil
}
