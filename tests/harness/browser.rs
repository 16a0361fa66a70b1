//! Headless Chromium (Debian's `chromium`, which `.ci/run` installs) driven over the Chrome
//! DevTools Protocol: a small client over one WebSocket (tungstenite), in flat session mode.
//!
//! [`Browser::start`] launches Chromium with its own profile directory, no extensions, no
//! background networking, a fixed window size and DevTools on a free loopback port (read back from
//! the profile's `DevToolsActivePort`); [`Browser::page`] opens a tab and attaches to it. Every
//! wait is bounded. Every request a page makes is recorded ([`Page::requests`]), so a test can
//! assert that nothing leaves the machine.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// The Chromium binary: `$APPSET_CHROMIUM`, else the first of Debian's names found.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("APPSET_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A running headless Chromium and its DevTools connection.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Events received while waiting for answers, oldest first: (session, method, params).
    events: Vec<(Option<String>, String, Value)>,
    _profile: tempfile::TempDir,
}

/// One tab, attached in flat mode: commands carry its session id.
pub struct Page {
    session: String,
    target: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Launch headless Chromium (`width` × `height` window) and connect to it.
    pub fn start(width: u32, height: u32) -> Result<Browser, String> {
        let bin = chromium().ok_or("no chromium binary (apt-get install chromium)")?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let log = std::fs::File::create(profile.path().join("chromium.log")).map_err(|e| e.to_string())?;
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(&bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--metrics-recording-only",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        // Chromium writes "<port>\n<browser path>" once DevTools listens.
        let active = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&active) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break (port.trim().to_string(), path.trim().to_string());
                }
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(profile.path().join("chromium.log")).unwrap_or_default();
                return Err(format!("chromium did not open DevTools within 30 s:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).map_err(|e| e.to_string())?;
        // The handshake waits as long as a loaded machine needs; reads after it time out
        // quickly, so that waits can poll and stay bounded.
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream)
            .map_err(|e| format!("DevTools WebSocket: {e}"))?;
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        Ok(Browser {
            child,
            ws,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        })
    }

    /// Send `method` (to `session`, or to the browser) and wait up to 30 s for its answer.
    pub fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .map_err(|e| format!("{method}: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if Instant::now() > deadline {
                return Err(format!("{method}: no answer within 30 s"));
            }
            let Some(m) = self.read()? else { continue };
            if m.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(e) = m.get("error") {
                    return Err(format!("{method}: {e}"));
                }
                return Ok(m.get("result").cloned().unwrap_or(Value::Null));
            }
        }
    }

    /// One message, or None when none came within the read timeout; events are kept.
    fn read(&mut self) -> Result<Option<Value>, String> {
        match self.ws.read() {
            Ok(Message::Text(t)) => {
                let m: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                if let Some(method) = m.get("method").and_then(Value::as_str) {
                    let session = m.get("sessionId").and_then(Value::as_str).map(str::to_string);
                    self.events.push((
                        session,
                        method.to_string(),
                        m.get("params").cloned().unwrap_or(Value::Null),
                    ));
                }
                Ok(Some(m))
            }
            Ok(_) => Ok(None),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(format!("DevTools connection: {e}")),
        }
    }

    /// Open a tab on `url`, attached, with network events on; waits for its load event.
    pub fn page(&mut self, url: &str) -> Result<Page, String> {
        let target = self.send(None, "Target.createTarget", json!({"url": "about:blank"}))?["targetId"]
            .as_str()
            .ok_or("no targetId")?
            .to_string();
        let session = self.send(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        )?["sessionId"]
            .as_str()
            .ok_or("no sessionId")?
            .to_string();
        let page = Page { session, target };
        for domain in ["Page.enable", "Network.enable", "Runtime.enable", "Log.enable"] {
            self.send(Some(&page.session), domain, json!({}))?;
        }
        self.navigate(&page, url)?;
        Ok(page)
    }

    /// Load `url` in `page` and wait for its load event (30 s).
    pub fn navigate(&mut self, page: &Page, url: &str) -> Result<(), String> {
        let seen = self.events.len();
        self.send(Some(&page.session), "Page.navigate", json!({"url": url}))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let loaded = self.events[seen..]
                .iter()
                .any(|(s, m, _)| s.as_deref() == Some(&page.session) && m == "Page.loadEventFired");
            if loaded {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{url} did not load within 30 s"));
            }
            self.read()?;
        }
    }

    /// Evaluate `expression` in `page` (promises awaited), its value as JSON.
    pub fn eval(&mut self, page: &Page, expression: &str) -> Result<Value, String> {
        let r = self.send(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!("{expression}: {e}"));
        }
        Ok(r["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// The renderer's cumulative counters (`Performance.getMetrics`: `ScriptDuration`,
    /// `RecalcStyleDuration`, `LayoutDuration`, `TaskDuration`, in seconds), collecting them
    /// from the first call on.
    pub fn metrics(&mut self, page: &Page) -> Result<Vec<(String, f64)>, String> {
        self.send(Some(&page.session), "Performance.enable", json!({}))?;
        let r = self.send(Some(&page.session), "Performance.getMetrics", json!({}))?;
        Ok(r["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| Some((m["name"].as_str()?.to_string(), m["value"].as_f64()?)))
            .collect())
    }

    /// Wait (bounded by `timeout`) until `expression` is truthy in `page`; its last value.
    pub fn wait_for(&mut self, page: &Page, expression: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(page, expression)?;
            let truthy = !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return Ok(v);
            }
            if Instant::now() > deadline {
                return Err(format!("still false after {timeout:?}: {expression} ({v})"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Click the centre of the element `selector` selects, with the mouse (pressed, released).
    pub fn click(&mut self, page: &Page, selector: &str) -> Result<(), String> {
        let at = self.eval(
            page,
            &format!(
                "(() => {{ const r = document.querySelector({selector:?}).getBoundingClientRect(); \
                 return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
            ),
        )?;
        let (x, y) = (at[0].as_f64().unwrap_or(0.0), at[1].as_f64().unwrap_or(0.0));
        for kind in ["mousePressed", "mouseReleased"] {
            self.send(
                Some(&page.session),
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )?;
        }
        Ok(())
    }

    /// Type `text` where the focus is, one key event per character (Enter for `\n`), as a
    /// person typing.
    pub fn type_text(&mut self, page: &Page, text: &str) -> Result<(), String> {
        for c in text.chars() {
            let (key, text) = if c == '\n' {
                ("Enter".to_string(), "\r".to_string())
            } else {
                (c.to_string(), c.to_string())
            };
            self.send(
                Some(&page.session),
                "Input.dispatchKeyEvent",
                json!({"type": "keyDown", "key": key, "text": text, "unmodifiedText": text}),
            )?;
            self.send(
                Some(&page.session),
                "Input.dispatchKeyEvent",
                json!({"type": "keyUp", "key": key}),
            )?;
        }
        Ok(())
    }

    /// Insert `text` where the focus is in one go, as a paste does.
    pub fn insert_text(&mut self, page: &Page, text: &str) -> Result<(), String> {
        self.send(Some(&page.session), "Input.insertText", json!({"text": text}))
            .map(|_| ())
    }

    /// Press one named key (`Backspace`, `Tab`, `Escape`, ...) with its Windows key code.
    pub fn press(&mut self, page: &Page, key: &str, code: u32) -> Result<(), String> {
        for kind in ["rawKeyDown", "keyUp"] {
            self.send(
                Some(&page.session),
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code}),
            )?;
        }
        Ok(())
    }

    /// A PNG of the page's viewport, written to `path`.
    pub fn screenshot(&mut self, page: &Page, path: &Path) -> Result<(), String> {
        let r = self.send(
            Some(&page.session),
            "Page.captureScreenshot",
            json!({"format": "png"}),
        )?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| e.to_string())
    }

    /// Emulate the system's colour scheme (`light` or `dark`) for `page`.
    pub fn color_scheme(&mut self, page: &Page, scheme: &str) -> Result<(), String> {
        self.send(
            Some(&page.session),
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .map(|_| ())
    }

    /// Let pages of `origin` write and read the clipboard, and make `page` act focused (a
    /// headless window never has the focus the Clipboard API wants).
    pub fn allow_clipboard(&mut self, page: &Page, origin: &str) -> Result<(), String> {
        self.send(
            None,
            "Browser.grantPermissions",
            json!({"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
        )?;
        self.send(
            Some(&page.session),
            "Emulation.setFocusEmulationEnabled",
            json!({"enabled": true}),
        )
        .map(|_| ())
    }

    /// Every URL `page` requested so far (documents, scripts, styles, fetches, images).
    pub fn requests(&self, page: &Page) -> Vec<String> {
        self.events
            .iter()
            .filter(|(s, m, _)| s.as_deref() == Some(&page.session) && m == "Network.requestWillBeSent")
            .filter_map(|(_, _, p)| p["request"]["url"].as_str().map(str::to_string))
            .collect()
    }

    /// Console errors, uncaught exceptions and browser-logged errors (Content-Security-Policy
    /// violations among them) of `page` so far.
    pub fn errors(&self, page: &Page) -> Vec<String> {
        self.events
            .iter()
            .filter(|(s, _, _)| s.as_deref() == Some(&page.session))
            .filter_map(|(_, m, p)| match m.as_str() {
                "Runtime.exceptionThrown" => Some(p["exceptionDetails"].to_string()),
                "Runtime.consoleAPICalled" if p["type"] == "error" => Some(p["args"].to_string()),
                // Content-Security-Policy violations among them; not the "failed to load" line
                // every 4xx answer to a fetch logs (the API's error answers are expected).
                "Log.entryAdded" if p["entry"]["level"] == "error" && p["entry"]["source"] != "network" => {
                    Some(p["entry"]["text"].to_string())
                }
                _ => None,
            })
            .collect()
    }

    /// Close `page`.
    pub fn close(&mut self, page: Page) -> Result<(), String> {
        self.send(None, "Target.closeTarget", json!({"targetId": page.target}))
            .map(|_| ())
    }
}
