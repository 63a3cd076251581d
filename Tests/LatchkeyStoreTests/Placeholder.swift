import Testing

@Test func storeBuilds() {}
