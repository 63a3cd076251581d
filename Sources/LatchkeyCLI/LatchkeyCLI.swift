// LatchkeyCLI
