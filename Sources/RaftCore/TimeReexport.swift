// RaftCore's inputs and outputs carry `Instant` and `Interval` (every step takes `now`),
// so a client of the core needs the Time module too: re-export it rather than make
// every file that names a lease or a timeout import two modules.
@_exported public import Time
