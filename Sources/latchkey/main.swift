import LatchkeyCLI

await LatchkeyCommand.entry()
