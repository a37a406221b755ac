//! The control plane's keys and certificates, made with Debian's `openssl` for each control
//! plane (test material, never reused): a CA, the API server's serving certificate for
//! 127.0.0.1, an admin client certificate in `system:masters` (envtest's admin user), and the
//! service-account signing key pair (ECDSA P-256, so tokens are ES256 as OpenBao accepts).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Pki {
    pub ca_cert: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (scripts/setup-test-tools.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ec_key(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            name,
        ],
    );
}

/// A certificate for `key`, signed by the CA in `dir`, with `subject` and extensions `ext`.
fn issue(dir: &Path, key: &str, cert: &str, subject: &str, ext: &str) {
    let csr = format!("{cert}.csr");
    let ext_file = format!("{cert}.ext");
    std::fs::write(dir.join(&ext_file), ext).unwrap();
    openssl(dir, &["req", "-new", "-key", key, "-subj", subject, "-out", &csr]);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            &ext_file,
            "-out",
            cert,
        ],
    );
}

pub fn make(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).unwrap();
    ec_key(dir, "ca.key");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=pullsync-test-ca",
            "-days",
            "2",
            "-sha256",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "ca.crt",
        ],
    );
    ec_key(dir, "serving.key");
    issue(
        dir,
        "serving.key",
        "serving.crt",
        "/CN=kube-apiserver",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n",
    );
    ec_key(dir, "admin.key");
    issue(
        dir,
        "admin.key",
        "admin.crt",
        "/O=system:masters/CN=harness-admin",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    );
    ec_key(dir, "sa.key");
    openssl(dir, &["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
    Pki {
        ca_cert: dir.join("ca.crt"),
        serving_cert: dir.join("serving.crt"),
        serving_key: dir.join("serving.key"),
        admin_cert: dir.join("admin.crt"),
        admin_key: dir.join("admin.key"),
        sa_key: dir.join("sa.key"),
        sa_pub: dir.join("sa.pub"),
    }
}
