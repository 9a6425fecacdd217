import PostgresStorage
import Testing

@Suite struct PostgresURLTests {
    let environment = ["USER": "ops"]

    @Test func readsEveryPartOfAURI() throws {
        let url = try PostgresURL("postgresql://club:s%40cret@db.example:6543/clubdb?sslmode=require", environment: environment)
        #expect(url.host == "db.example")
        #expect(url.port == 6543)
        #expect(url.user == "club")
        #expect(url.password == "s@cret")
        #expect(url.database == "clubdb")
        #expect(url.tls == .require)
        #expect(url.socketPath == nil)
        #expect(url.redacted == "postgresql://club:***@db.example:6543/clubdb?sslmode=require")
    }

    @Test func fillsInLibpqsDefaults() throws {
        let url = try PostgresURL("postgres://", environment: environment)
        #expect(url.host == "localhost")
        #expect(url.port == 5432)
        #expect(url.user == "ops")
        #expect(url.database == "ops")
        #expect(url.tls == .prefer)
        #expect(try PostgresURL("postgresql://[::1]/x", environment: environment).host == "::1")
        #expect(try PostgresURL("postgresql://h/x", environment: ["PGUSER": "pg", "USER": "ops"]).user == "pg")
    }

    @Test func aSocketDirectoryIsAUnixSocket() throws {
        let url = try PostgresURL("postgresql:///club?host=/run/postgresql&port=5433", environment: environment)
        #expect(url.socketPath == "/run/postgresql/.s.PGSQL.5433")
        #expect(url.database == "club")
        let encoded = try PostgresURL("postgresql://%2Fvar%2Frun%2Fpostgresql/club", environment: environment)
        #expect(encoded.socketPath == "/var/run/postgresql/.s.PGSQL.5432")
    }

    @Test(arguments: [
        ("mysql://h/db", "scheme 'mysql'"),
        ("postgresql://h:0/db", "port 0"),
        ("postgresql://h/db?sslmode=maybe", "sslmode 'maybe'"),
        ("postgresql://h/db?options=-c", "unknown parameter 'options'"),
        ("postgresql://h/db?port=x", "port 'x'"),
        ("not a uri", "is not a URI"),
        ("postgresql://h/db?sslmode", "has no value"),
        ("postgresql://h/a%2Fb", "contains '/'"),
    ])
    func refusesWhatItCannotRead(text: String, reason: String) {
        #expect {
            try PostgresURL(text, environment: environment)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }
}
