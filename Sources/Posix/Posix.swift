// Module Posix: built under its own issue; see Package.swift.
