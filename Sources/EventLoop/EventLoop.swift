// Module EventLoop: built under its own issue; see Package.swift.
