import Testing

@Test func auditBuilds() {}
