//! `application/x-www-form-urlencoded` bodies into fields that are zeroized when dropped.

use zeroize::Zeroizing;

/// A decoded form. Every value (and the body it came from) is zeroized on drop.
pub(crate) struct Form {
    fields: Vec<(String, Zeroizing<String>)>,
}

impl Form {
    /// Decodes `body`, which is zeroized here.
    pub(crate) fn parse(body: Zeroizing<Vec<u8>>) -> Self {
        let fields = form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), Zeroizing::new(v.into_owned())))
            .collect();
        Self { fields }
    }

    /// The first value of `name`, or "" when absent.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_decode_with_plus_and_percent() {
        let f = Form::parse(Zeroizing::new(
            b"address=a%40example.org&password=two+words%26more&x=1&x=2".to_vec(),
        ));
        assert_eq!(f.get("address"), "a@example.org");
        assert_eq!(f.get("password"), "two words&more");
        assert_eq!(f.get("x"), "1");
        assert_eq!(f.get("missing"), "");
    }
}
