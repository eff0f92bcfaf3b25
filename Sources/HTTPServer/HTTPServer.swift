// Module HTTPServer: built under its own issue; see Package.swift.
