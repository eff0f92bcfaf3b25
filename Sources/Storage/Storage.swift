// Module Storage: see issue 4.
