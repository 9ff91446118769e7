//! `Browser`: what the page tests need of a browser, over reqwest: it keeps cookies, does not
//! follow redirects (tests look at each `Location`), and puts the CSRF token every page's
//! forms carry into the forms it posts. The headless-Chromium suite (tests/web) walks the
//! same pages in a real browser.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::Client;

use crate::helpers::TestApp;

pub struct Browser {
    client: Client,
    base: String,
    cookies: HashMap<String, String>,
}

/// One answer: status, headers, body and where a redirect points.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Every `Set-Cookie` header, whole.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The text inside the element with this id (tags stripped), if there is one.
    pub fn text_of(&self, id: &str) -> Option<String> {
        let start = self.html.find(&format!("id=\"{id}\""))?;
        let open_end = start + self.html[start..].find('>')? + 1;
        let rest = &self.html[open_end..];
        let mut depth = 0usize;
        let mut out = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '<' {
                let tag = &rest[i..];
                if tag.starts_with("</") {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                } else if !tag.starts_with("<br") && !tag.starts_with("<input") {
                    depth += 1;
                }
                for (_, c) in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        Some(out.trim().to_owned())
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            client: Client::builder().redirect(Policy::none()).build().unwrap(),
            base: app.base.clone(),
            cookies: HashMap::new(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Replaces a cookie by hand (a test that brings back an old session cookie).
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn absorb(&mut self, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all(SET_COOKIE) {
            let value = value.to_str().unwrap();
            let pair = value.split(';').next().unwrap();
            let (name, val) = pair.split_once('=').unwrap();
            let expired = value.contains("Max-Age=0");
            if expired || val.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), val.to_owned());
            }
        }
        let html = response.text().await.unwrap();
        Page {
            status,
            headers,
            html,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.absorb(response).await
    }

    /// Posts a form with this browser's CSRF token added (fetching a page first when the
    /// browser has none yet).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        if self.csrf().is_none() {
            self.get("/signin").await;
        }
        let csrf = self.csrf().unwrap().to_owned();
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &csrf));
        self.post_exactly(path, &form, &[]).await
    }

    /// Posts exactly these fields and extra headers: no token is added.
    pub async fn post_exactly(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        self.absorb(response).await
    }

    /// Posts a multipart form (the picture upload) with the token in the query string,
    /// where the page's upload form puts it.
    pub async fn post_file(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        let csrf = self.csrf().unwrap().to_owned();
        let response = self
            .client
            .post(format!("{}{path}?csrf={csrf}", self.base))
            .header(COOKIE, self.cookie_header())
            .multipart(form)
            .send()
            .await
            .unwrap();
        self.absorb(response).await
    }

    pub fn csrf(&self) -> Option<&str> {
        self.cookie("gatehouse_csrf")
            .or_else(|| self.cookie("__Host-gatehouse_csrf"))
    }

    pub fn session(&self) -> Option<&str> {
        self.cookie("gatehouse_session")
    }

    /// Signs in through the page; asserts it worked.
    pub async fn sign_in(&mut self, login: &str, password: &str) -> Page {
        self.get("/signin").await;
        let page = self
            .post("/signin", &[("login", login), ("password", password)])
            .await;
        assert_eq!(page.status, 303, "signed in: {}", page.html);
        page
    }
}
