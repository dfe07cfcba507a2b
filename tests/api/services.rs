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
