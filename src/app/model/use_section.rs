//! "Use this model": where clients connect and what they send, ready to copy: the base URL, the
//! model's name, and a curl and a Python (`openai`) example.

use leptos::prelude::*;

use crate::app::access::next_page::login_required;
use crate::app::widgets::copy_button::CopyButton;
use crate::domain::Model;

#[component]
pub fn UseSection(current: RwSignal<Model>) -> impl IntoView {
    let base = format!("{}/v1", page_origin());
    let name = move || current.with(|m| m.spec.name.clone());
    // Asked in the browser (the server's render shows the examples without a key, and the
    // page corrects them once hydrated): where a login is required, clients need a key.
    let needs_key = LocalResource::new(|| async { login_required().await == Some(true) });
    let key = move || needs_key.get() == Some(true);
    let curl = {
        let base = base.clone();
        move || curl_example(&base, &name(), key())
    };
    let python = {
        let base = base.clone();
        move || python_example(&base, &name(), key())
    };
    let key_text = move || {
        if key() {
            "an API key with the inference scope (make one on the Keys page)"
        } else {
            "any text: this Corral asks no key on its loopback address"
        }
    };
    view! {
        <section class="card" id="use" aria-labelledby="use-title">
            <div class="card-head"><h2 id="use-title">"Use this model"</h2></div>
            <p class="muted">"Any OpenAI client works: point it at the base URL, give it a key and name the model. \
                A request starts the model if it is stopped."</p>
            <dl class="facts">
                <div><dt>"Base URL"</dt><dd class="mono">{base.clone()}<CopyButton text=Signal::derive({ let base = base.clone(); move || base.clone() }) what="base URL"/></dd></div>
                <div><dt>"Model"</dt><dd class="mono">{name}<CopyButton text=Signal::derive(name) what="model name"/></dd></div>
                <div><dt>"API key"</dt><dd>{key_text}" "<a href="/keys">"Keys"</a></dd></div>
            </dl>
            <Show when=key>
                <p class="muted">"The examples read the key from "<code>"CORRAL_API_KEY"</code>
                    ": "<code>"export CORRAL_API_KEY=crl_…"</code>" first."</p>
            </Show>
            <h3>"curl" <CopyButton text=Signal::derive(curl.clone()) what="curl example"/></h3>
            <pre class="command-line" aria-label="curl example">{curl}</pre>
            <h3>"Python" <CopyButton text=Signal::derive(python.clone()) what="Python example"/></h3>
            <pre class="command-line" aria-label="Python example">{python}</pre>
            <h3>"Open WebUI"</h3>
            <p>"Admin Panel → Settings → Connections → OpenAI API → add a connection: URL "
                <code>{base.clone()}</code>", key as above. Every model Corral lists appears in its model menu, \
                and choosing one starts it."</p>
        </section>
    }
}

/// The address this page was loaded from (the request's Host, which the allow-list checked),
/// the same on the server and in the browser.
fn page_origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_default()
    }
    #[cfg(all(feature = "ssr", not(feature = "hydrate")))]
    {
        use_context::<axum::http::request::Parts>()
            .and_then(|parts| {
                let host = parts.headers.get(axum::http::header::HOST)?.to_str().ok()?;
                Some(format!("http://{host}"))
            })
            .unwrap_or_default()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        String::new()
    }
}

/// A JSON string literal (also a valid Python one) for the name.
fn literal(name: &str) -> String {
    serde_json::to_string(name).unwrap_or_default()
}

fn curl_example(base: &str, name: &str, key: bool) -> String {
    let body = format!(
        r#"{{"model": {}, "messages": [{{"role": "user", "content": "Hello"}}]}}"#,
        literal(name)
    );
    let auth = if key {
        "  -H \"Authorization: Bearer $CORRAL_API_KEY\" \\\n"
    } else {
        ""
    };
    format!(
        "curl {base}/chat/completions \\\n{auth}  -H 'Content-Type: application/json' \\\n  -d '{}'",
        body.replace('\'', r"'\''")
    )
}

fn python_example(base: &str, name: &str, key: bool) -> String {
    let (import, api_key) = if key {
        ("import os\n", "os.environ[\"CORRAL_API_KEY\"]")
    } else {
        ("", "\"none\"")
    };
    format!(
        "{import}from openai import OpenAI\n\nclient = OpenAI(base_url=\"{base}\", api_key={api_key})\n\
         reply = client.chat.completions.create(\n    model={},\n    \
         messages=[{{\"role\": \"user\", \"content\": \"Hello\"}}],\n)\n\
         print(reply.choices[0].message.content)",
        literal(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_quote_the_name_for_json_python_and_the_shell() {
        let curl = curl_example("http://127.0.0.1:3000/v1", "it's \"x\"", false);
        assert!(
            curl.contains(r#"-d '{"model": "it'\''s \"x\"", "messages""#),
            "{curl}"
        );
        assert!(!curl.contains("Authorization"), "{curl}");
        let python = python_example("http://h/v1", "tiny", false);
        assert!(python.contains("base_url=\"http://h/v1\", api_key=\"none\""));
        assert!(python.contains("model=\"tiny\","));
    }

    #[test]
    fn where_a_key_is_needed_the_examples_send_the_one_in_corral_api_key() {
        let curl = curl_example("http://h/v1", "tiny", true);
        assert!(
            curl.contains("-H \"Authorization: Bearer $CORRAL_API_KEY\" \\\n"),
            "{curl}"
        );
        let python = python_example("http://h/v1", "tiny", true);
        assert!(python.starts_with("import os\n"), "{python}");
        assert!(
            python.contains("api_key=os.environ[\"CORRAL_API_KEY\"]"),
            "{python}"
        );
    }
}
