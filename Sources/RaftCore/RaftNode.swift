// RaftNode: implemented next (see Ready.swift for the contract).
