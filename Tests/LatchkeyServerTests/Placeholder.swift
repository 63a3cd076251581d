import Testing

@Test func serverBuilds() {}
