//! Webhooks through an HTTP proxy.

use super::{answering, replay_one, replay_with};
use crate::util::{server_runtime, stderr};

herald_test!(a_proxy_carries_the_request, |dir| {
    let runtime = server_runtime();
    // The proxy: plain HTTP proxying is a request with the absolute URL.
    let proxy = answering(&runtime, 200, "");
    let (_, replay) = replay_one(
        &dir,
        &format!(
            "url = \"http://herald-test.invalid/hook?key=k1\"\nallow_insecure = true\nproxy = \"{}\"",
            proxy.uri()
        ),
        &[],
    );
    assert!(replay.status.success(), "{}", stderr(&replay));
    let requests = runtime.block_on(proxy.received_requests()).unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.headers["Host"], "herald-test.invalid");
    assert_eq!(
        (request.url.path(), request.url.query()),
        ("/hook", Some("key=k1"))
    );
    assert_eq!(request.body, br#"{"id":1}"#);
});

herald_test!(a_proxy_must_be_an_http_url, |dir| {
    let (code, err) = replay_with(&dir, "proxy = \"socks5://127.0.0.1:1080\"");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("webhooks.crm.proxy: the scheme must be http or https, not \"socks5\""),
        "{err}"
    );
    let (code, err) = replay_with(&dir, "proxy = \"http://ann:pw@127.0.0.1:3128\"");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("webhooks.crm.proxy: a password in a literal proxy URL")
            && !err.contains("pw@"),
        "{err}"
    );
});

herald_test!(a_proxy_password_stays_out_of_dead_letters, |dir| {
    let runtime = server_runtime();
    let proxy = answering(&runtime, 502, "no upstream for ann:pw-s3cr3t");
    let address = proxy.uri().replacen("http://", "http://ann:pw-s3cr3t@", 1);
    let (config, replay) = replay_one(
        &dir,
        "url = \"http://herald-test.invalid/hook\"\nallow_insecure = true\nproxy = { env = \"CRM_PROXY\" }",
        &[("CRM_PROXY", &address)],
    );
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    let requests = runtime.block_on(proxy.received_requests()).unwrap();
    assert_eq!(
        requests[0].headers["Proxy-Authorization"], "Basic YW5uOnB3LXMzY3IzdA==",
        "the proxy gets the credentials"
    );
    assert_eq!(
        super::dlq_show_json(&config)["error"],
        "webhook crm: POST http://herald-test.invalid answered 502 Bad Gateway: no upstream for ann:****"
    );
    assert!(!stderr(&replay).contains("s3cr3t"), "{}", stderr(&replay));
});
