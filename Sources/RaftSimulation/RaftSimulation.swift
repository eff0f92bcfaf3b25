// Module RaftSimulation: built under its own issue; see Package.swift.
