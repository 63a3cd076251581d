// LatchkeyAudit
