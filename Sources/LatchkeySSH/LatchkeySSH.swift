// LatchkeySSH
