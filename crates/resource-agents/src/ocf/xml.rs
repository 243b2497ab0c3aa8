//! A small XML reader, enough for OCF meta-data: elements, attributes, text, comments,
//! CDATA, processing instructions, a DOCTYPE and the predefined and numeric entities.
//!
//! Meta-data documents are a few kilobytes of simple XML, so a tree of owned strings is
//! plenty; this avoids a dependency for one document format. Namespaces and DTD entity
//! definitions are not supported; real agents do not use them.

use crate::limits::{META_DATA_BYTES_MAX, XML_DEPTH_MAX};

/// An element with its attributes and children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) children: Vec<Node>,
}

/// A child of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    pub(crate) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The child elements called `name`, in document order.
    pub(crate) fn elements<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter_map(move |node| match node {
            Node::Element(element) if element.name == name => Some(element),
            _ => None,
        })
    }

    pub(crate) fn element(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|node| match node {
            Node::Element(element) if element.name == name => Some(element),
            _ => None,
        })
    }

    /// All text inside this element, its descendants' included.
    pub(crate) fn text(&self) -> String {
        let mut text = String::new();
        for node in &self.children {
            match node {
                Node::Text(part) => text.push_str(part),
                Node::Element(element) => text.push_str(&element.text()),
            }
        }
        text
    }
}

/// Parses a document and returns its root element; the error says where and why.
pub(crate) fn parse(document: &str) -> Result<Element, String> {
    if document.len() > META_DATA_BYTES_MAX {
        return Err(format!(
            "document is larger than {META_DATA_BYTES_MAX} bytes"
        ));
    }
    let mut parser = Parser {
        input: document,
        position: 0,
    };
    parser.skip_misc()?;
    let root = parser.element(0)?;
    parser.skip_misc()?;
    if parser.position != document.len() {
        return Err(parser.error("unexpected content after the root element"));
    }
    Ok(root)
}

struct Parser<'a> {
    input: &'a str,
    position: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.input[self.position..]
    }

    fn error(&self, what: &str) -> String {
        let line = self.input[..self.position].matches('\n').count() + 1;
        format!("{what} on line {line}")
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.position += rest.len() - rest.trim_start().len();
    }

    /// Skips whitespace, comments, processing instructions and a DOCTYPE between elements.
    fn skip_misc(&mut self) -> Result<(), String> {
        loop {
            self.skip_whitespace();
            if self.rest().starts_with("<?") {
                self.skip_past("?>")?;
            } else if self.rest().starts_with("<!--") {
                self.skip_past("-->")?;
            } else if self.rest().starts_with("<!DOCTYPE") {
                self.skip_doctype()?;
            } else {
                return Ok(());
            }
        }
    }

    fn skip_past(&mut self, end: &str) -> Result<(), String> {
        match self.rest().find(end) {
            Some(offset) => {
                self.position += offset + end.len();
                Ok(())
            }
            None => Err(self.error(&format!("missing {end:?}"))),
        }
    }

    fn skip_doctype(&mut self) -> Result<(), String> {
        // An internal subset in brackets may contain '>', so track the brackets.
        let mut depth = 0usize;
        for (offset, character) in self.rest().char_indices() {
            match character {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                '>' if depth == 0 => {
                    self.position += offset + 1;
                    return Ok(());
                }
                _ => {}
            }
        }
        Err(self.error("unterminated DOCTYPE"))
    }

    fn name(&mut self) -> Result<String, String> {
        let rest = self.rest();
        let length = rest
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
            .unwrap_or(rest.len());
        if length == 0 {
            return Err(self.error("expected a name"));
        }
        let name = rest[..length].to_owned();
        self.position += length;
        Ok(name)
    }

    fn element(&mut self, depth: usize) -> Result<Element, String> {
        if depth >= XML_DEPTH_MAX {
            return Err(self.error("elements nested too deeply"));
        }
        if !self.rest().starts_with('<') {
            return Err(self.error("expected an element"));
        }
        self.position += 1;
        let name = self.name()?;
        let attributes = self.attributes()?;
        if self.rest().starts_with("/>") {
            self.position += 2;
            return Ok(Element {
                name,
                attributes,
                children: Vec::new(),
            });
        }
        if !self.rest().starts_with('>') {
            return Err(self.error(&format!("expected '>' after <{name}")));
        }
        self.position += 1;
        let children = self.content(depth)?;
        let closing = self.name()?;
        if closing != name {
            return Err(self.error(&format!("</{closing}> closes <{name}>")));
        }
        self.skip_whitespace();
        if !self.rest().starts_with('>') {
            return Err(self.error(&format!("expected '>' after </{name}")));
        }
        self.position += 1;
        Ok(Element {
            name,
            attributes,
            children,
        })
    }

    fn attributes(&mut self) -> Result<Vec<(String, String)>, String> {
        let mut attributes = Vec::new();
        loop {
            self.skip_whitespace();
            if self.rest().starts_with('>') || self.rest().starts_with("/>") {
                return Ok(attributes);
            }
            let key = self.name()?;
            self.skip_whitespace();
            if !self.rest().starts_with('=') {
                return Err(self.error(&format!("expected '=' after attribute {key}")));
            }
            self.position += 1;
            self.skip_whitespace();
            let quote = self
                .rest()
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'');
            let quote = quote.ok_or_else(|| self.error("expected a quoted attribute value"))?;
            self.position += 1;
            let end = self
                .rest()
                .find(quote)
                .ok_or_else(|| self.error("unterminated value"))?;
            let value = unescape(&self.rest()[..end]).map_err(|why| self.error(&why))?;
            self.position += end + 1;
            attributes.push((key, value));
        }
    }

    /// Reads children up to and including the `</` of the closing tag.
    fn content(&mut self, depth: usize) -> Result<Vec<Node>, String> {
        let mut children = Vec::new();
        loop {
            let rest = self.rest();
            if rest.starts_with("</") {
                self.position += 2;
                return Ok(children);
            } else if rest.starts_with("<!--") {
                self.skip_past("-->")?;
            } else if rest.starts_with("<![CDATA[") {
                self.position += "<![CDATA[".len();
                let end = self
                    .rest()
                    .find("]]>")
                    .ok_or_else(|| self.error("unterminated CDATA"))?;
                children.push(Node::Text(self.rest()[..end].to_owned()));
                self.position += end + 3;
            } else if rest.starts_with("<?") {
                self.skip_past("?>")?;
            } else if rest.starts_with('<') {
                children.push(Node::Element(self.element(depth + 1)?));
            } else if rest.is_empty() {
                return Err(self.error("unexpected end of document"));
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                let text = unescape(&rest[..end]).map_err(|why| self.error(&why))?;
                children.push(Node::Text(text));
                self.position += end;
            }
        }
    }
}

/// Replaces the five predefined entities and numeric character references.
fn unescape(text: &str) -> Result<String, String> {
    let mut output = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(ampersand) = rest.find('&') {
        output.push_str(&rest[..ampersand]);
        rest = &rest[ampersand..];
        let semicolon = rest.find(';').ok_or("an '&' without ';'")?;
        let entity = &rest[1..semicolon];
        let character = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => numeric_reference(entity).ok_or_else(|| format!("unknown entity &{entity};"))?,
        };
        output.push(character);
        rest = &rest[semicolon + 1..];
    }
    output.push_str(rest);
    Ok(output)
}

fn numeric_reference(entity: &str) -> Option<char> {
    let digits = entity.strip_prefix('#')?;
    let code = match digits
        .strip_prefix('x')
        .or_else(|| digits.strip_prefix('X'))
    {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    char::from_u32(code)
}
