import Testing

@Test func policyBuilds() {}
