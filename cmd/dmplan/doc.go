// Command dmplan is the command line of dmplan: a declarative control plane
// and engine for MySQL/MariaDB data migration. See README.md.
//
// This package only wires the others together: it alone imports cobra,
// sets up logging and handles signals.
package main
