package main

import (
	"context"
	"fmt"
	"io"
)

const hubspotUsage = `Usage:
  switchboard hubspot setup --config F [--workspace ID]
                          register the custom channel, connect the channel accounts and
                          create the identifier properties; says what is left to do
  switchboard hubspot create-key-property --config F [--workspace W]
                          create the unique create key property (hubspot.create_key_property)
`

// cmdHubSpot runs the commands that act on the HubSpot portals themselves; each
// subcommand is one case.
func cmdHubSpot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, hubspotUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: hubspot needs a subcommand", errUsage)
		}
		return nil
	}
	switch args[0] {
	case "setup":
		return cmdHubSpotSetup(ctx, args[1:], stdout, stderr)
	case "create-key-property":
		return cmdCreateKeyProperty(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "switchboard hubspot: unknown subcommand %q\n\n%s", args[0], hubspotUsage)
	return fmt.Errorf("%w: unknown hubspot subcommand %q", errUsage, args[0])
}
