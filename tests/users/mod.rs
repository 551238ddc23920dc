//! Many accounts: an old single-admin database upgraded in place, who sees
//! what (the authorization matrix over every route), quotas per account and
//! dedup across accounts, invites and registration, managing accounts,
//! albums among accounts, and each account's statistics.

mod albums;
mod manage;
mod matrix;
mod quotas;
mod stats;
mod upgrade;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

/// A password every test account gets.
pub const PASSWORD: &str = "correct-horse-9";

/// A logged-in browser: its own cookie jar and the session's CSRF token.
pub struct Person {
    pub name: String,
    pub client: Client,
    pub csrf: String,
}

impl Person {
    /// Logs `name` in on `app`; panics unless the login succeeds.
    pub async fn login(app: &TestApp, name: &str, password: &str) -> Person {
        let client = client();
        let res = log_in(&client, &app.base, name, password).await;
        assert_eq!(res.status(), StatusCode::OK, "login of {name}");
        let v: Value = res.json().await.unwrap();
        Person {
            name: name.to_string(),
            client,
            csrf: v["csrfToken"].as_str().unwrap().to_string(),
        }
    }

    /// The first admin of `spawn_app`.
    pub async fn admin(app: &TestApp) -> Person {
        Person::login(app, "admin", ADMIN_PASSWORD).await
    }

    /// A request with this session and its CSRF token.
    pub fn req(&self, app: &TestApp, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, app.url(path))
            .header("X-CSRF-Token", &self.csrf)
    }

    pub async fn get(&self, app: &TestApp, path: &str) -> Response {
        self.req(app, Method::GET, path).send().await.unwrap()
    }

    /// `DELETE path` with this session.
    pub async fn delete(&self, app: &TestApp, path: &str) -> Response {
        self.req(app, Method::DELETE, path).send().await.unwrap()
    }

    pub async fn get_json(&self, app: &TestApp, path: &str) -> Value {
        let res = self.get(app, path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }

    pub async fn send_json(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Value,
    ) -> Response {
        self.req(app, method, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Uploads `bytes` with this session.
    pub async fn upload(&self, app: &TestApp, bytes: Vec<u8>, name: &str) -> Response {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string());
        self.req(app, Method::POST, "/api/upload")
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap()
    }

    /// [`Person::upload`], which must succeed; the image JSON.
    pub async fn upload_ok(&self, app: &TestApp, bytes: Vec<u8>, name: &str) -> Value {
        let res = self.upload(app, bytes, name).await;
        assert_eq!(res.status(), StatusCode::OK, "upload by {}", self.name);
        res.json().await.unwrap()
    }

    /// `PATCH /api/users/{name}` with `body` (as an admin, to succeed).
    pub async fn edit_user(&self, app: &TestApp, name: &str, body: Value) -> Response {
        let path = format!("/api/users/{name}");
        self.send_json(app, Method::PATCH, &path, body).await
    }

    /// Creates an invite (as an admin) with `body`; its JSON and its token.
    pub async fn invite(&self, app: &TestApp, body: Value) -> (Value, String) {
        let res = self
            .send_json(app, Method::POST, "/api/invites", body)
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let inv: Value = res.json().await.unwrap();
        let token = token_of(&inv["url"]);
        (inv, token)
    }

    /// Creates an upload key of this account; the key.
    pub async fn new_key(&self, app: &TestApp) -> String {
        let res = self
            .send_json(app, Method::POST, "/api/keys", json!({"name": "k"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["user"], self.name.as_str());
        v["key"].as_str().unwrap().to_string()
    }
}

/// The `token` of a link's URL.
pub fn token_of(url: &Value) -> String {
    let url = url.as_str().expect("a URL");
    url.split("token=").nth(1).expect("a token").to_string()
}

/// The status of an upload with upload key `key`.
pub async fn key_upload_status(app: &TestApp, key: &str, seed: u64) -> StatusCode {
    upload_as(&app.base, key, bmp(2, 2, seed), "k.bmp")
        .await
        .status()
}

/// Creates account `name` (`role`, and `extra` fields) as `admin`; its JSON.
pub async fn create_user(
    app: &TestApp,
    admin: &Person,
    name: &str,
    role: &str,
    extra: Value,
) -> Value {
    let mut body = json!({"name": name, "password": PASSWORD, "role": role});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let res = admin.send_json(app, Method::POST, "/api/users", body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create {name}");
    res.json().await.unwrap()
}

/// An app with the first admin logged in and users `alice` and `bob`.
pub async fn with_two_users(
    tweak: impl FnOnce(&mut pixbin::config::Config),
) -> (TestApp, Person, Person, Person) {
    let app = spawn_app_with(tweak).await;
    let admin = Person::admin(&app).await;
    for name in ["alice", "bob"] {
        create_user(&app, &admin, name, "user", json!({})).await;
    }
    let alice = Person::login(&app, "alice", PASSWORD).await;
    let bob = Person::login(&app, "bob", PASSWORD).await;
    (app, admin, alice, bob)
}
