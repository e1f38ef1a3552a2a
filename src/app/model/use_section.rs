//! "Use this model": where clients connect and what they send, ready to copy: the base URL, the
//! model's name, and a curl and a Python (`openai`) example.

use leptos::prelude::*;

use crate::domain::Model;

#[component]
pub fn UseSection(current: RwSignal<Model>) -> impl IntoView {
    let base = format!("{}/v1", page_origin());
    let name = move || current.with(|m| m.spec.name.clone());
    let curl = {
        let base = base.clone();
        move || curl_example(&base, &name())
    };
    let python = {
        let base = base.clone();
        move || python_example(&base, &name())
    };
    view! {
        <section class="card" id="use" aria-labelledby="use-title">
            <div class="card-head"><h2 id="use-title">"Use this model"</h2></div>
            <p class="muted">"Any OpenAI client works: point it at the base URL and name the model. \
                A request starts the model if it is stopped."</p>
            <dl class="facts">
                <div><dt>"Base URL"</dt><dd class="mono">{base.clone()}<CopyButton text=Signal::derive({ let base = base.clone(); move || base.clone() }) what="base URL"/></dd></div>
                <div><dt>"Model"</dt><dd class="mono">{name}<CopyButton text=Signal::derive(name) what="model name"/></dd></div>
            </dl>
            <h3>"curl" <CopyButton text=Signal::derive(curl.clone()) what="curl example"/></h3>
            <pre class="command-line" aria-label="curl example">{curl}</pre>
            <h3>"Python" <CopyButton text=Signal::derive(python.clone()) what="Python example"/></h3>
            <pre class="command-line" aria-label="Python example">{python}</pre>
        </section>
    }
}

#[component]
fn CopyButton(text: Signal<String>, what: &'static str) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(window) = web_sys::window() {
            let _ = window
                .navigator()
                .clipboard()
                .write_text(&text.get_untracked());
            copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = text;
    };
    view! {
        <button class="small copy" aria-label=format!("Copy the {what}") on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
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

fn curl_example(base: &str, name: &str) -> String {
    let body = format!(
        r#"{{"model": {}, "messages": [{{"role": "user", "content": "Hello"}}]}}"#,
        literal(name)
    );
    format!(
        "curl {base}/chat/completions \\\n  -H 'Content-Type: application/json' \\\n  -d '{}'",
        body.replace('\'', r"'\''")
    )
}

fn python_example(base: &str, name: &str) -> String {
    format!(
        "from openai import OpenAI\n\nclient = OpenAI(base_url=\"{base}\", api_key=\"none\")\n\
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
        let curl = curl_example("http://127.0.0.1:3000/v1", "it's \"x\"");
        assert!(
            curl.contains(r#"-d '{"model": "it'\''s \"x\"", "messages""#),
            "{curl}"
        );
        let python = python_example("http://h/v1", "tiny");
        assert!(python.contains("base_url=\"http://h/v1\""));
        assert!(python.contains("model=\"tiny\","));
    }
}
