//! A reply as Markdown, safely: raw HTML in it is shown as text, only `http(s)`, `mailto` and
//! in-page links are links (opened in a new tab, without a referrer), images become links (a
//! reply never makes the browser fetch anything), and each code block gets a Copy button (the
//! conversation listens for its clicks, so the HTML carries no handlers).

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// The HTML of `text` rendered as Markdown, safe to place with `inner_html`.
pub fn to_safe_html(text: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    // Each open link or image: whether it was written as an `<a>`.
    let mut links: Vec<bool> = Vec::new();
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link { dest_url, .. }) | Event::Start(Tag::Image { dest_url, .. }) => {
            let safe = safe_url(&dest_url);
            links.push(safe);
            if safe {
                Event::Html(CowStr::from(format!(
                    "<a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer nofollow\">",
                    escape(&dest_url)
                )))
            } else {
                Event::Text(CowStr::Borrowed(""))
            }
        }
        Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => {
            if links.pop().unwrap_or(false) {
                Event::Html(CowStr::Borrowed("</a>"))
            } else {
                Event::Text(CowStr::Borrowed(""))
            }
        }
        Event::Start(Tag::CodeBlock(kind)) => {
            let language = match &kind {
                CodeBlockKind::Fenced(info) => info.split_whitespace().next().unwrap_or(""),
                CodeBlockKind::Indented => "",
            };
            let class = language
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+'))
                .take(32)
                .collect::<String>();
            Event::Html(CowStr::from(format!(
                "<div class=\"code-block\"><div class=\"code-head\"><span>{}</span>\
                 <button type=\"button\" class=\"small copy-code\">Copy</button></div>\
                 <pre><code{}>",
                escape(language),
                if class.is_empty() {
                    String::new()
                } else {
                    format!(" class=\"language-{class}\"")
                }
            )))
        }
        Event::End(TagEnd::CodeBlock) => Event::Html(CowStr::Borrowed("</code></pre></div>")),
        other => other,
    });
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// Links a reply may carry: the web, mail, and places on this page.
fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:")
        || lower.starts_with('#')
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fenced_code_block_becomes_a_code_element_with_a_copy_button() {
        let html = to_safe_html("Here:\n\n```rust\nfn main() {}\n```\n");
        assert!(
            html.contains("<pre><code class=\"language-rust\">fn main() {}\n</code></pre>"),
            "{html}"
        );
        assert!(html.contains("<button type=\"button\" class=\"small copy-code\">Copy</button>"));
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let html = to_safe_html("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)>");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn only_web_mail_and_page_links_are_links_and_images_are_never_fetched() {
        let html = to_safe_html(
            "[a](javascript:alert(1)) [b](https://example.com/?q=\"x\") ![c](https://t.example/p.png) [d](data:text/html,hi)",
        );
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("data:text"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("<a href=\"https://example.com/?q=&quot;x&quot;\" target=\"_blank\" rel=\"noopener noreferrer nofollow\">b</a>"), "{html}");
        assert!(
            html.contains("href=\"https://t.example/p.png\""),
            "an image is a link: {html}"
        );
    }

    #[test]
    fn a_hostile_language_name_cannot_leave_its_attribute() {
        let html = to_safe_html("```\"><script>x</script>\ncode\n```");
        assert!(!html.contains("<script>"), "{html}");
    }

    #[test]
    fn tables_and_lists_render() {
        let html = to_safe_html("| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n");
        assert!(
            html.contains("<table>") && html.contains("<td>1</td>"),
            "{html}"
        );
        assert!(html.contains("<ul>\n<li>one</li>"), "{html}");
    }
}
