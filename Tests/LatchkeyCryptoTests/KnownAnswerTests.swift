import LatchkeyCrypto
import Testing

/// Known-answer vectors from the primitives' specifications.
@Suite struct KnownAnswerTests {
    func secret(_ hex: String) throws -> SecretBytes {
        var b = Hex.decode(hex)!
        return try SecretBytes(consuming: &b)
    }

    // draft-irtf-cfrg-xchacha-03, appendix A.3.1 (AEAD_XChaCha20_Poly1305).
    @Test func xchacha20Poly1305MatchesDraftVector() throws {
        let key = try secret("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
        let nonce = Hex.decode("404142434445464748494a4b4c4d4e4f5051525354555657")!
        let ad = Hex.decode("50515253c0c1c2c3c4c5c6c7")!
        let plaintext = Array(
            "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."
                .utf8)
        let expected =
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e"
            + "c0875924c1c7987947deafd8780acf49"
        let sealed = plaintext.withUnsafeBytes { XChaCha20Poly1305.seal($0, key: key, associatedData: ad, nonce: nonce) }
        #expect(Hex.encode(sealed.dropFirst(XChaCha20Poly1305.nonceBytes)) == expected)
        let opened = try XChaCha20Poly1305.open(sealed, key: key, associatedData: ad, what: "vector")
        #expect(opened.constantTimeEquals(plaintext))
    }

    @Test func xchacha20Poly1305RefusesAnyChange() throws {
        let key = try SecretBytes.random(count: XChaCha20Poly1305.keyBytes)
        let sealed = [UInt8](repeating: 7, count: 40).withUnsafeBytes {
            XChaCha20Poly1305.seal($0, key: key, associatedData: [1])
        }
        for i in [0, 23, 24, sealed.count - 1] {
            var bad = sealed
            bad[i] ^= 0x01
            #expect(throws: CryptoError.self) { try XChaCha20Poly1305.open(bad, key: key, associatedData: [1], what: "t") }
        }
        #expect(throws: CryptoError.self) { try XChaCha20Poly1305.open(sealed, key: key, associatedData: [2], what: "t") }
        #expect(throws: CryptoError.self) { try XChaCha20Poly1305.open(Array(sealed.prefix(30)), key: key, associatedData: [1], what: "t") }
        #expect(throws: CryptoError.self) { try XChaCha20Poly1305.open([], key: key, associatedData: [1], what: "t") }
    }

    // RFC 7693 appendix A (BLAKE2b-512 of "abc") and the BLAKE2b-256 of the empty string.
    @Test func blake2bMatchesReferenceVectors() {
        #expect(
            Hex.encode(Blake2b.hash(Array("abc".utf8), outputCount: 64))
                == "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        )
        #expect(Hex.encode(Blake2b.hash([])) == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
        var incremental = Blake2b(outputCount: 64)
        incremental.update(Array("a".utf8))
        incremental.update(Array("bc".utf8))
        #expect(incremental.finalize() == Blake2b.hash(Array("abc".utf8), outputCount: 64))
    }

    // RFC 8032 section 7.1, test 1 (empty message).
    @Test func ed25519MatchesRFC8032() throws {
        let key = try Ed25519SigningKey(seed: secret("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        #expect(Hex.encode(key.publicKey) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let sig = key.sign([UInt8]())
        #expect(
            Hex.encode(sig)
                == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        )
        #expect(ed25519Verify(signature: sig, message: [], publicKey: key.publicKey))
        #expect(!ed25519Verify(signature: sig, message: [0], publicKey: key.publicKey))
    }

    @Test func sealedBoxOpensOnlyForItsKeyAndUnaltered() throws {
        let pair = try IntakeKeyPair.generate()
        let token = try secret(Hex.encode(Array("glpat-abcdefghij0123456789".utf8)))
        let sealed = IntakeKeyPair.seal(token, to: pair.publicKey)
        #expect(try pair.open(sealed).constantTimeEquals(token))
        var bad = sealed
        bad[bad.count - 1] ^= 1
        #expect(throws: CryptoError.self) { try pair.open(bad) }
        #expect(throws: CryptoError.self) { try IntakeKeyPair.generate().open(sealed) }
        #expect(throws: CryptoError.self) { try pair.open(Array(sealed.prefix(10))) }
        // Rebuilt from its secret key, the pair has the same public key.
        #expect(IntakeKeyPair(secretKey: pair.secretKey).publicKey == pair.publicKey)
    }
}
