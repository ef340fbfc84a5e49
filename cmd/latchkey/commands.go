package main

// addCommands registers every subcommand on the root.
func (c *cli) addCommands() {
	c.root.AddCommand(c.serveCmd(), c.demoCmd())
	c.root.AddCommand(c.orgCmd(), c.userCmd(), c.appCmd(), c.keysCmd())
	c.root.AddCommand(c.upstreamCmd())
	c.root.AddCommand(c.adminCmd())
	c.root.AddCommand(c.migrateCmd(), c.versionCmd(), c.masterKeyCmd())
	c.root.AddCommand(c.healthcheckCmd())
}
