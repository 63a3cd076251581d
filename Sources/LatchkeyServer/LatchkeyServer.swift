// LatchkeyServer
