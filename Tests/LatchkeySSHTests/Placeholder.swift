import Testing

@Test func sshBuilds() {}
