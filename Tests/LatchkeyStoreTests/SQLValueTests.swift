import Foundation
import LatchkeyStore
import Testing

/// What row code relies on when it reads a column or binds an argument: the same on
/// every engine, no silent conversion between text and numbers.
@Suite struct SQLValueTests {
    @Test func valuesRoundTripThroughTheirSQLForm() {
        #expect(Int64.fromSQL(Int64(-7).sqlValue) == -7)
        #expect(Int.fromSQL(42.sqlValue) == 42)
        #expect(Int32.fromSQL(Int32.min.sqlValue) == Int32.min)
        #expect(Double.fromSQL(2.5.sqlValue) == 2.5)
        #expect(String.fromSQL("héllo".sqlValue) == "héllo")
        #expect(Data.fromSQL(Data([0, 1, 255]).sqlValue) == Data([0, 1, 255]))
        #expect(Bool.fromSQL(true.sqlValue) == true)
        #expect(Bool.fromSQL(false.sqlValue) == false)
    }

    @Test func booleansAreStoredAsZeroAndOne() {
        #expect(true.sqlValue == .integer(1))
        #expect(false.sqlValue == .integer(0))
        #expect(Bool.fromSQL(.integer(0)) == false)
        #expect(Bool.fromSQL(.integer(1)) == true)
        #expect(Bool.fromSQL(.integer(2)) == true)
        #expect(Bool.fromSQL(.text("1")) == nil)
    }

    @Test func textAndNumbersNeverConvertIntoEachOther() {
        #expect(Int64.fromSQL(.text("12")) == nil)
        #expect(Int.fromSQL(.real(1.0)) == nil)
        #expect(String.fromSQL(.integer(12)) == nil)
        #expect(String.fromSQL(.blob(Data("ab".utf8))) == nil)
        #expect(Data.fromSQL(.text("ab")) == nil)
        #expect(Int64.fromSQL(.null) == nil)
    }

    @Test func integersWidenToDoubleButNarrowOnlyWhenTheyFit() {
        #expect(Double.fromSQL(.integer(3)) == 3.0)
        #expect(Int32.fromSQL(.integer(Int64(Int32.max) + 1)) == nil)
    }

    @Test func optionalsBindNullAndReadNullAsNone() {
        let none: Int64? = nil
        #expect(none.sqlValue == .null)
        #expect(Optional<Int64>.fromSQL(.null) == .some(nil))
        #expect(Optional<Int64>.fromSQL(.integer(5)) == .some(5))
        #expect(Optional<Int64>.fromSQL(.text("5")) == nil)
    }

    @Test func argumentsTakeLiteralsOptionalsAndNil() {
        let project: Int64? = nil
        let connection: Int64? = 9
        let args: SQLArguments = ["web", 3, Data([1, 2]), true, project, connection, nil, 1.5]
        #expect(args.values == [.text("web"), .integer(3), .blob(Data([1, 2])), .integer(1), .null, .integer(9), .null, .real(1.5)])
        var more: SQLArguments = []
        more.append("x")
        more.append(nil as String?)
        #expect((args + more).values.suffix(2) == [.text("x"), .null])
    }
}

@Suite struct SQLRowTests {
    let row = SQLRow(
        columns: ["id", "name", "retire_at", "mac", "flag"],
        values: [.integer(7), .text("web"), .null, .blob(Data([9, 9])), .integer(0)])

    @Test func readsColumnsByNameAndIndex() {
        #expect((row["id"] as Int64) == 7)
        #expect((row["name"] as String) == "web")
        #expect((row["mac"] as Data) == Data([9, 9]))
        #expect((row["flag"] as Bool) == false)
        #expect((row[0] as Int64) == 7)
        #expect((row[1] as String) == "web")
    }

    @Test func nullAndMissingColumnsReadAsNil() {
        #expect((row["retire_at"] as String?) == nil)
        #expect((row["no_such_column"] as Int64?) == nil)
        #expect((row[2] as String?) == nil)
        #expect((row[99] as Int64?) == nil)
        #expect((row["id"] as Int64?) == 7)
        #expect(row.value("retire_at") == .null)
        #expect(row.value("no_such_column") == .null)
        #expect(row.value("name") == .text("web"))
    }

    @Test func columnNamesMatchCaseInsensitivelyAsTheEnginesDo() {
        let r = SQLRow(columns: ["Count(*)", "ID"], values: [.integer(3), .integer(4)])
        #expect((r["count(*)"] as Int) == 3)
        #expect((r["id"] as Int64) == 4)
    }

    @Test func theFirstOfTwoColumnsWithOneNameWins() {
        let r = SQLRow(columns: ["id", "id"], values: [.integer(1), .integer(2)])
        #expect((r["id"] as Int64) == 1)
    }

    @Test func storageFaultsAreTheKindsThatFailAWholeTransaction() {
        #expect(SQLError(kind: .unavailable, message: "SQLITE_FULL").isStorageFault)
        #expect(SQLError(kind: .corrupt, message: "SQLITE_CORRUPT").isStorageFault)
        #expect(SQLError(kind: .serialization, message: "SQLSTATE 40001").isStorageFault)
        #expect(!SQLError(kind: .constraint, message: "SQLITE_CONSTRAINT").isStorageFault)
        #expect(!SQLError(kind: .other, message: "SQLITE_ERROR").isStorageFault)
    }
}
