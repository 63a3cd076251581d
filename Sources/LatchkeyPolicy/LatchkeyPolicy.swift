// LatchkeyPolicy
