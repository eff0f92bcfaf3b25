import Testing
@testable import AgentConfig

@Suite struct WallTimeTests {
    @Test func readsRFC3339WithAnOffset() throws {
        #expect(try parseWallTime("1970-01-01T00:00:00Z", flag: "--at") == 0)
        #expect(try parseWallTime("2026-12-07T19:00:00Z", flag: "--at") == 1_796_670_000_000)
        #expect(try parseWallTime("2026-12-07T20:00:00+01:00", flag: "--at") == 1_796_670_000_000)
        #expect(try parseWallTime("2026-12-07 13:30:00-05:30", flag: "--at") == 1_796_670_000_000)
        #expect(try parseWallTime("2026-12-07t19:00:00.5z", flag: "--at") == 1_796_670_000_500)
        #expect(try parseWallTime("2026-12-07T19:00:00.123456Z", flag: "--at") == 1_796_670_000_123)
        #expect(try parseWallTime("2024-02-29T00:00:00Z", flag: "--at") == 1_709_164_800_000)
        #expect(try parseWallTime("2000-03-01T00:00:00Z", flag: "--at") == 951_868_800_000)
        #expect(try parseWallTime("1969-12-31T23:59:59Z", flag: "--at") == -1_000)
    }

    @Test func refusesWhatIsNotOneMomentWithAClearMessage() {
        for (text, fragment) in [("2026-12-07T19:00:00", "no offset"), ("tomorrow", "not a time"),
                                 ("2026-13-01T00:00:00Z", "not a valid date"), ("2025-02-29T00:00:00Z", "not a valid date"),
                                 ("2026-12-07T24:00:00Z", "not a valid date"), ("2026-12-07T23:59:60Z", "not a valid date"),
                                 ("2026-12-07T19:00:00.Z", "followed by digits"), ("2026-12-07T19:00:00+1", "offset"),
                                 ("2026-12-07T19:00:00Zjunk", "unexpected text"), ("", "not a time"),
                                 (String(repeating: "9", count: 100), "too long")] {
            do {
                _ = try parseWallTime(text, flag: "--at")
                Issue.record("accepted '\(text)'")
            } catch {
                #expect(error.flag == "--at")
                #expect(error.message.contains(fragment), "\(text): \(error.message)")
            }
        }
    }
}
