// The pure parts: STATUS= wording and --leader-unit validation.
import Systemd
import Testing

@Suite struct ServiceStatusTests {
    @Test func linesReadAsTheIssueWordsThem() {
        #expect(ServiceStatus.line(role: "leader", term: 42, leader: "n1") == "leader, term 42")
        #expect(ServiceStatus.line(role: "follower", term: 42, leader: "n2") == "follower of n2, term 42")
        #expect(ServiceStatus.line(role: "candidate", term: 43, leader: nil) == "candidate, term 43")
    }

    @Test func followerWithoutLeaderAndPreCandidateSaySo() {
        #expect(ServiceStatus.line(role: "follower", term: 5, leader: nil) == "follower, no leader known, term 5")
        #expect(ServiceStatus.line(role: "follower", term: 5, leader: "") == "follower, no leader known, term 5")
        #expect(ServiceStatus.line(role: "pre-candidate", term: 5, leader: nil) == "pre-candidate, term 5")
    }

    @Test func largestTermIsPrintedWhole() {
        #expect(ServiceStatus.line(role: "leader", term: .max, leader: nil) == "leader, term 18446744073709551615")
    }
}

@Suite struct UnitNameTests {
    @Test(arguments: ["myapp.service", "my-app_2.service", "getty@tty1.service", "a.b.service",
                      "x\\x2dy.service", String(repeating: "a", count: UnitName.maxBytes - 8) + ".service"])
    func acceptsServiceNames(name: String) throws {
        #expect(try UnitName(name).rawValue == name)
    }

    @Test func rejectsEachWrongShapeWithItsOwnError() {
        #expect(throws: UnitNameError.empty) { try UnitName("") }
        #expect(throws: UnitNameError.notAService("myapp")) { try UnitName("myapp") }
        #expect(throws: UnitNameError.notAService("myapp.timer")) { try UnitName("myapp.timer") }
        #expect(throws: UnitNameError.containsSlash("/etc/systemd/system/myapp.service")) {
            try UnitName("/etc/systemd/system/myapp.service")
        }
        #expect(throws: UnitNameError.containsSlash("../x.service")) { try UnitName("../x.service") }
        #expect(throws: UnitNameError.emptyStem(".service")) { try UnitName(".service") }
        #expect(throws: UnitNameError.emptyStem("@.service")) { try UnitName("@.service") }
        #expect(throws: UnitNameError.invalidCharacter("my app.service", " ")) { try UnitName("my app.service") }
        #expect(throws: UnitNameError.invalidCharacter("a;b.service", ";")) { try UnitName("a;b.service") }
    }

    @Test func lengthLimitIsExact() throws {
        let atLimit = String(repeating: "a", count: UnitName.maxBytes - 8) + ".service"
        #expect(atLimit.utf8.count == UnitName.maxBytes)
        _ = try UnitName(atLimit)
        #expect(throws: UnitNameError.tooLong(UnitName.maxBytes + 1)) { try UnitName("a" + atLimit) }
    }

    @Test func errorsNameTheFlagAndTheFix() {
        let messages = [UnitNameError.empty, .tooLong(300), .containsSlash("a/b.service"), .notAService("x"),
                        .emptyStem(".service"), .invalidCharacter("a b.service", " ")].map(\.description)
        #expect(messages.allSatisfy { $0.hasPrefix("--leader-unit") })
        #expect(messages[3].contains("end in .service"))
        #expect(messages[5].contains("systemd-escape"))
    }
}
