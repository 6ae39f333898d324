//! `pkcs11-tool --test --login` (OpenSC's self-test of every object and mechanism of the token) on a
//! token holding an EC and an RSA key: it must report no errors.

use hsm_e2e::{Env, USER_PIN};

#[test]
fn pkcs11_tool_test_reports_no_errors_with_ec_and_rsa_keys() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.keypairgen("EC:prime256v1", "01", "ec");
    env.keypairgen("rsa:2048", "02", "rsa");
    let out = env
        .pkcs11_tool(&["--test", "--login", "--pin", USER_PIN])
        .ok()
        .expect("No errors")
        .expect_not("ERR")
        .expect_not("failed");
    // Both keys were found; OpenSC 0.23 signs, verifies and decrypts with the RSA key only ("non-RSA,
    // skipping" for the EC key).
    for label in ["(rsa)", "(ec)"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains("testing key") && l.contains(label)),
            "key {label} not found by the test:\n{out}"
        );
    }
    for needle in ["RSA-PKCS: OK", "RSA-PKCS-OAEP"] {
        assert!(out.stdout.contains(needle), "{needle:?} missing:\n{out}");
    }
}
