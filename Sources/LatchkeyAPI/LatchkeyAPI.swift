// LatchkeyAPI
