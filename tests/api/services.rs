use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn admin_endpoints_need_the_token() {
    let app = spawn_app().await;
    let body = json!({"slug": "aws", "name": "AWS"});
    let url = app.url("/api/v1/services");
    let missing = app.client.post(&url).json(&body).send().await.unwrap();
    assert!(missing.headers().contains_key("www-authenticate"));
    assert_error(missing, 401, "missing_token").await;
    let wrong = app
        .client
        .post(&url)
        .bearer_auth("not-it")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(wrong, 401, "invalid_token").await;
    // The scheme is case-insensitive in HTTP: `bearer` is the same scheme.
    for (i, scheme) in ["bearer", "BEARER", "Bearer "].into_iter().enumerate() {
        let r = app
            .client
            .post(&url)
            .header("authorization", format!("{scheme} {ADMIN_TOKEN}"))
            .json(&json!({"slug": format!("svc-{i}"), "name": "S"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{scheme}");
    }
}

#[tokio::test]
async fn without_a_configured_token_admin_says_how_to_set_one() {
    let app = spawn_app_with(|_| {}).await;
    let (settings, dir, clock) = app.stop().await;
    let mut settings = settings;
    settings.admin_token = None;
    let app = spawn_on(settings, dir, clock).await;
    let r = app
        .client
        .post(app.url("/api/v1/services"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"slug": "aws", "name": "AWS"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(r, 401, "admin_disabled").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("DOWNWAVE_ADMIN_TOKEN"));
}

#[tokio::test]
async fn services_are_created_listed_and_read() {
    let app = spawn_app().await;
    let created = app
        .create_service("aws-s3", "Amazon S3", &["upload", "download"])
        .await;
    assert_eq!(created["categories"], json!(["upload", "download"]));
    let (status, list) = app.get_json("/api/v1/services").await;
    assert_eq!(status, 200);
    let slugs: Vec<&str> = list["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["aws-s3", "claude"]);
    let (status, claude) = app.get_json("/api/v1/services/claude").await;
    assert_eq!(status, 200);
    assert_eq!(
        claude["categories"],
        json!(["login", "website", "app", "api", "other"])
    );
    assert_error(
        app.get("/api/v1/services/nope").await,
        404,
        "unknown_service",
    )
    .await;
}

#[tokio::test]
async fn bad_service_definitions_are_refused() {
    let app = spawn_app().await;
    let post = |body: serde_json::Value| {
        app.client
            .post(app.url("/api/v1/services"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    assert_error(
        post(json!({"slug": "claude", "name": "Again"}))
            .await
            .unwrap(),
        409,
        "service_exists",
    )
    .await;
    assert_error(
        post(json!({"slug": "Bad Slug", "name": "x"}))
            .await
            .unwrap(),
        422,
        "invalid_slug",
    )
    .await;
    assert_error(
        post(json!({"slug": "ok", "name": "x", "categories": ["a", "a"]}))
            .await
            .unwrap(),
        422,
        "duplicate_category",
    )
    .await;
    assert_error(
        post(json!({"slug": "ok", "name": ""})).await.unwrap(),
        422,
        "invalid_name",
    )
    .await;
}

/// A service names the providers it depends on when it is made, and the
/// list can be replaced or cleared later; the API shows it everywhere.
#[tokio::test]
async fn a_service_declares_its_providers() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/api/v1/services"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"slug": "slack", "name": "Slack", "depends_on": ["aws", "cloudflare"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(created["depends_on"], json!(["aws", "cloudflare"]));
    let (_, slack) = app.get_json("/api/v1/services/slack").await;
    assert_eq!(slack["depends_on"], json!(["aws", "cloudflare"]));
    let (_, claude) = app.get_json("/api/v1/services/claude").await;
    assert_eq!(claude["depends_on"], json!([]));

    let patch = |slug: &str, body: serde_json::Value| {
        app.client
            .patch(app.url(&format!("/api/v1/services/{slug}")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let r = patch("slack", json!({"depends_on": ["gcp"]}))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["depends_on"], json!(["gcp"]));
    assert_eq!(body["status"], "ok");
    let (_, list) = app.get_json("/api/v1/services").await;
    let slack = list["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == "slack")
        .unwrap();
    assert_eq!(slack["depends_on"], json!(["gcp"]));
    let r = patch("slack", json!({"depends_on": []})).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, slack) = app.get_json("/api/v1/services/slack").await;
    assert_eq!(slack["depends_on"], json!([]));

    // The declaration outlives a restart.
    patch("slack", json!({"depends_on": ["aws"]}))
        .await
        .unwrap();
    let (settings, dir, clock) = app.stop().await;
    let app = spawn_on(settings, dir, clock).await;
    let (_, slack) = app.get_json("/api/v1/services/slack").await;
    assert_eq!(slack["depends_on"], json!(["aws"]));
}

#[tokio::test]
async fn bad_provider_lists_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let post = |body: serde_json::Value| {
        app.client
            .post(app.url("/api/v1/services"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let patch = |slug: &str, body: serde_json::Value| {
        app.client
            .patch(app.url(&format!("/api/v1/services/{slug}")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let cases = [
        (json!({"depends_on": ["claude"]}), "depends_on_itself"),
        (json!({"depends_on": ["aws", "aws"]}), "duplicate_provider"),
        (json!({"depends_on": ["Not A Slug"]}), "invalid_slug"),
        (
            json!({"depends_on": (0..17).map(|i| format!("p{i}")).collect::<Vec<_>>()}),
            "too_many_providers",
        ),
    ];
    for (body, code) in cases {
        assert_error(patch("claude", body.clone()).await.unwrap(), 422, code).await;
        let mut create = body;
        create["slug"] = json!("claude");
        create["name"] = json!("Claude");
        if code != "depends_on_itself" {
            create["slug"] = json!("new-one");
        }
        assert_error(post(create).await.unwrap(), 422, code).await;
    }
    let (_, list) = app.get_json("/api/v1/services").await;
    assert_eq!(
        list["services"].as_array().unwrap().len(),
        1,
        "nothing made"
    );
    let (_, claude) = app.get_json("/api/v1/services/claude").await;
    assert_eq!(claude["depends_on"], json!([]));
    assert_error(
        patch("nope", json!({"depends_on": []})).await.unwrap(),
        404,
        "unknown_service",
    )
    .await;
    let unauthenticated = app
        .client
        .patch(app.url("/api/v1/services/claude"))
        .json(&json!({"depends_on": []}))
        .send()
        .await
        .unwrap();
    assert_error(unauthenticated, 401, "missing_token").await;
    // Only depends_on may change.
    assert_error(
        patch("claude", json!({"name": "Renamed"})).await.unwrap(),
        422,
        "unknown_field",
    )
    .await;
}

/// A running server shows what the command line changed in its database
/// within about a second: a service added, a service's providers.
#[tokio::test]
async fn a_running_server_shows_what_the_command_line_changed() {
    let app = spawn_app().await;
    let (_, claude) = app.get_json("/api/v1/services/claude").await;
    assert_eq!(claude["depends_on"], json!([]), "the catalog is loaded");
    let db = app.dir.path().join("downwave.db");
    let cli = |args: &[&str]| crate::process::run_ok(crate::process::downwave(&db).args(args));
    cli(&["service", "add", "aws", "--name", "AWS"]);
    cli(&["service", "depends", "claude", "--on", "aws"]);
    let changed = std::time::Instant::now();
    loop {
        let (_, claude) = app.get_json("/api/v1/services/claude").await;
        let home = app.get("/").await.text().await.unwrap();
        let shown = [claude["depends_on"] == json!(["aws"]), home.contains("AWS")];
        if shown.iter().all(|s| *s) {
            break;
        }
        assert!(
            changed.elapsed() < std::time::Duration::from_secs(5),
            "[providers, the new service on the home page]: {shown:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The same through the command line, on the database file.
#[test]
fn the_service_command_declares_providers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let add = [
        "service",
        "add",
        "slack",
        "--name",
        "Slack",
        "--depends-on",
        "aws",
    ];
    crate::process::run_ok(crate::process::downwave(&db).args(add));
    let list = crate::process::run_ok(crate::process::downwave(&db).args(["service", "list"]));
    assert!(
        list.contains("slack\tSlack\tlogin,website,app,api,other\taws"),
        "{list}"
    );
    let set = [
        "service",
        "depends",
        "slack",
        "--on",
        "cloudflare",
        "--on",
        "aws",
    ];
    assert!(
        crate::process::run_ok(crate::process::downwave(&db).args(set))
            .contains("slack depends on cloudflare,aws")
    );
    assert!(crate::process::run_ok(
        crate::process::downwave(&db).args(["service", "depends", "slack"])
    )
    .contains("on none"));
    for (args, says) in [
        (
            ["service", "depends", "slack", "--on", "slack"],
            "cannot depend on itself",
        ),
        (
            ["service", "depends", "nope", "--on", "aws"],
            "there is no service 'nope'",
        ),
    ] {
        let out = crate::process::downwave(&db).args(args).output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
}
