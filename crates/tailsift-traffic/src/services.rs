//! The mission workload's shop: a dozen services, their operations, and who calls whom.
//!
//! The tables below are data, read once into a [`Catalog`] whose resources, scopes, names and
//! attribute values are built once and shared by every span. An operation's median is its
//! *self* time (time not spent waiting on synchronous children); its span lasts that plus its
//! synchronous children, so durations compose the way they do in a real call tree.

/// The services of the mission workload, each with its SDK language.
pub const SERVICES: &[(&str, &str)] = &[
    ("frontend", "nodejs"),
    ("auth", "java"),
    ("cart", "dotnet"),
    ("catalog", "go"),
    ("checkout", "go"),
    ("payment", "nodejs"),
    ("shipping", "rust"),
    ("currency", "cpp"),
    ("email", "ruby"),
    ("recommendation", "python"),
    ("ad", "java"),
    ("inventory", "python"),
];

/// The operations of the critical checkout path. A mission trace "touches the critical path"
/// ([`crate::TraceTruth::critical_path`]) when it contains one of them; all of them appear only
/// under `checkout:PlaceOrder`.
pub const CRITICAL_OPERATIONS: &[&str] = &[
    "checkout:PlaceOrder",
    "payment:Charge",
    "payment:ChargeCard",
    "shipping:Quote",
];

/// How an operation talks, which decides its span kind's attributes.
#[derive(Clone, Copy)]
pub(crate) enum Protocol {
    HttpServer {
        method: &'static str,
        route: &'static str,
    },
    HttpClient {
        method: &'static str,
        url: &'static str,
        peer: &'static str,
    },
    Rpc {
        service: &'static str,
        method: &'static str,
    },
    Db {
        system: &'static str,
        operation: &'static str,
        collection: &'static str,
        peer: &'static str,
    },
    Messaging {
        destination: &'static str,
        operation: &'static str,
    },
    Internal,
}

/// How a parent waits for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallMode {
    /// The parent waits for it before the next call.
    Sequential,
    /// Runs alongside the adjacent parallel calls; the parent waits for all of them.
    Parallel,
    /// Fire-and-forget: starts after a queue delay; the parent does not wait, so it often ends
    /// after its parent.
    Async,
}

pub(crate) struct CallSpec {
    pub(crate) to: &'static str,
    pub(crate) probability: f64,
    pub(crate) min: u8,
    pub(crate) max: u8,
    pub(crate) mode: CallMode,
}

const fn call(to: &'static str, probability: f64, mode: CallMode) -> CallSpec {
    CallSpec {
        to,
        probability,
        min: 1,
        max: 1,
        mode,
    }
}

const fn fan(to: &'static str, probability: f64, min: u8, max: u8, mode: CallMode) -> CallSpec {
    CallSpec {
        to,
        probability,
        min,
        max,
        mode,
    }
}

pub(crate) struct OperationSpec {
    pub(crate) service: &'static str,
    pub(crate) name: &'static str,
    pub(crate) protocol: Protocol,
    pub(crate) self_median_ms: f64,
    pub(crate) sigma: f64,
    pub(crate) calls: &'static [CallSpec],
}

use CallMode::{Async, Parallel, Sequential};
use Protocol::{Db, HttpClient, HttpServer, Internal, Messaging, Rpc};

const fn op(
    service: &'static str,
    name: &'static str,
    protocol: Protocol,
    self_median_ms: f64,
    sigma: f64,
    calls: &'static [CallSpec],
) -> OperationSpec {
    OperationSpec {
        service,
        name,
        protocol,
        self_median_ms,
        sigma,
        calls,
    }
}

const fn rpc(service: &'static str, method: &'static str) -> Protocol {
    Rpc { service, method }
}

const fn db(
    system: &'static str,
    operation: &'static str,
    collection: &'static str,
    peer: &'static str,
) -> Protocol {
    Db {
        system,
        operation,
        collection,
        peer,
    }
}

const fn http(method: &'static str, route: &'static str) -> Protocol {
    HttpServer { method, route }
}

/// Every operation. Calls name their target as `service/operation name`.
// One operation per line reads as a table; rustfmt would spread each over a dozen lines.
#[rustfmt::skip]
pub(crate) const OPERATIONS: &[OperationSpec] = &[
    // frontend: the HTTP entry points.
    op("frontend", "GET /", http("GET", "/"), 4.0, 0.5, &[
        call("auth/auth:ValidateToken", 0.6, Sequential),
        call("catalog/catalog:ListProducts", 1.0, Sequential),
        call("recommendation/recommendation:ListRecommendations", 0.9, Parallel),
        call("ad/ad:GetAds", 0.8, Parallel),
        call("currency/currency:GetSupportedCurrencies", 0.5, Sequential),
        call("ad/ad:RecordImpression", 0.3, Async),
    ]),
    op("frontend", "GET /api/products/{id}", http("GET", "/api/products/{id}"), 3.0, 0.5, &[
        call("auth/auth:ValidateToken", 0.5, Sequential),
        call("catalog/catalog:GetProduct", 1.0, Sequential),
        call("recommendation/recommendation:ListRecommendations", 0.8, Parallel),
        call("ad/ad:GetAds", 0.7, Parallel),
        call("currency/currency:Convert", 0.9, Sequential),
        call("ad/ad:RecordImpression", 0.2, Async),
    ]),
    op("frontend", "GET /api/cart", http("GET", "/api/cart"), 2.0, 0.5, &[
        call("auth/auth:ValidateToken", 0.9, Sequential),
        call("cart/cart:GetCart", 1.0, Sequential),
        fan("currency/currency:Convert", 1.0, 1, 4, Sequential),
    ]),
    op("frontend", "POST /api/cart", http("POST", "/api/cart"), 3.0, 0.5, &[
        call("auth/auth:ValidateToken", 1.0, Sequential),
        call("catalog/catalog:GetProduct", 1.0, Sequential),
        call("cart/cart:AddItem", 1.0, Sequential),
    ]),
    op("frontend", "POST /api/checkout", http("POST", "/api/checkout"), 5.0, 0.4, &[
        call("auth/auth:ValidateToken", 1.0, Sequential),
        call("checkout/checkout:PlaceOrder", 1.0, Sequential),
    ]),
    op("frontend", "GET /api/recommendations", http("GET", "/api/recommendations"), 2.0, 0.5, &[
        call("recommendation/recommendation:ListRecommendations", 1.0, Sequential),
    ]),
    op("frontend", "GET /healthz", http("GET", "/healthz"), 0.2, 0.3, &[]),
    op("frontend", "POST /api/login", http("POST", "/api/login"), 3.0, 0.4, &[
        call("auth/auth:Authenticate", 1.0, Sequential),
    ]),
    op("frontend", "GET /api/orders/{id}/invoice", http("GET", "/api/orders/{id}/invoice"), 6.0, 0.5, &[
        call("auth/auth:ValidateToken", 1.0, Sequential),
        call("checkout/checkout:GetOrder", 1.0, Sequential),
        call("email/email:RenderInvoice", 1.0, Sequential),
    ]),
    op("frontend", "POST /api/admin/reindex", http("POST", "/api/admin/reindex"), 10.0, 0.5, &[
        call("auth/auth:ValidateToken", 1.0, Sequential),
        call("catalog/catalog:Reindex", 1.0, Sequential),
    ]),
    // auth
    op("auth", "auth:ValidateToken", rpc("oteldemo.AuthService", "ValidateToken"), 0.8, 0.5, &[
        call("auth/GET session", 0.7, Sequential),
    ]),
    op("auth", "GET session", db("redis", "GET", "session", "session-cache"), 0.3, 0.5, &[]),
    op("auth", "auth:Authenticate", rpc("oteldemo.AuthService", "Authenticate"), 3.0, 0.4, &[
        call("auth/SELECT users", 1.0, Sequential),
        call("auth/auth:VerifyPassword", 1.0, Sequential),
    ]),
    op("auth", "SELECT users", db("postgresql", "SELECT", "users", "users-db"), 2.0, 0.6, &[]),
    op("auth", "auth:VerifyPassword", Internal, 40.0, 0.2, &[]),
    // cart
    op("cart", "cart:GetCart", rpc("oteldemo.CartService", "GetCart"), 0.6, 0.5, &[
        call("cart/HGETALL cart", 1.0, Sequential),
    ]),
    op("cart", "cart:AddItem", rpc("oteldemo.CartService", "AddItem"), 0.8, 0.5, &[
        call("cart/HGETALL cart", 1.0, Sequential),
        call("cart/HSET cart", 1.0, Sequential),
    ]),
    op("cart", "cart:EmptyCart", rpc("oteldemo.CartService", "EmptyCart"), 0.5, 0.5, &[
        call("cart/DEL cart", 1.0, Sequential),
    ]),
    op("cart", "HGETALL cart", db("redis", "HGETALL", "cart", "cart-cache"), 0.4, 0.5, &[]),
    op("cart", "HSET cart", db("redis", "HSET", "cart", "cart-cache"), 0.4, 0.5, &[]),
    op("cart", "DEL cart", db("redis", "DEL", "cart", "cart-cache"), 0.3, 0.5, &[]),
    // catalog
    op("catalog", "catalog:ListProducts", rpc("oteldemo.ProductCatalogService", "ListProducts"), 1.5, 0.5, &[
        call("catalog/SELECT products", 1.0, Sequential),
    ]),
    op("catalog", "catalog:GetProduct", rpc("oteldemo.ProductCatalogService", "GetProduct"), 0.5, 0.5, &[
        call("catalog/GET product", 0.8, Sequential),
        call("catalog/SELECT products", 0.25, Sequential),
    ]),
    op("catalog", "catalog:Reindex", rpc("oteldemo.ProductCatalogService", "Reindex"), 50.0, 0.6, &[
        fan("catalog/SELECT products", 1.0, 2, 8, Sequential),
        fan("inventory/inventory:GetStock", 1.0, 2, 8, Parallel),
    ]),
    op("catalog", "GET product", db("redis", "GET", "product", "catalog-cache"), 0.3, 0.5, &[]),
    op("catalog", "SELECT products", db("postgresql", "SELECT", "products", "catalog-db"), 3.0, 0.7, &[]),
    // checkout: the critical path.
    op("checkout", "checkout:PlaceOrder", rpc("oteldemo.CheckoutService", "PlaceOrder"), 4.0, 0.4, &[
        call("cart/cart:GetCart", 1.0, Sequential),
        fan("catalog/catalog:GetProduct", 1.0, 1, 8, Parallel),
        fan("currency/currency:Convert", 1.0, 1, 8, Sequential),
        call("shipping/shipping:Quote", 1.0, Sequential),
        call("payment/payment:Charge", 1.0, Sequential),
        call("shipping/shipping:ShipOrder", 1.0, Sequential),
        call("cart/cart:EmptyCart", 1.0, Parallel),
        call("checkout/INSERT orders", 1.0, Parallel),
        call("checkout/orders publish", 1.0, Sequential),
    ]),
    op("checkout", "INSERT orders", db("postgresql", "INSERT", "orders", "orders-db"), 4.0, 0.5, &[]),
    op("checkout", "orders publish", Messaging { destination: "orders", operation: "publish" }, 1.0, 0.5, &[
        call("email/email:SendOrderConfirmation", 1.0, Async),
        call("inventory/inventory:ReserveStock", 1.0, Async),
    ]),
    op("checkout", "checkout:GetOrder", rpc("oteldemo.CheckoutService", "GetOrder"), 1.0, 0.5, &[
        call("checkout/SELECT orders", 1.0, Sequential),
    ]),
    op("checkout", "SELECT orders", db("postgresql", "SELECT", "orders", "orders-db"), 3.0, 0.6, &[]),
    // payment
    op("payment", "payment:Charge", rpc("oteldemo.PaymentService", "Charge"), 3.0, 0.4, &[
        call("payment/payment:FraudCheck", 1.0, Sequential),
        call("payment/payment:ChargeCard", 1.0, Sequential),
    ]),
    op("payment", "payment:FraudCheck", Internal, 5.0, 0.5, &[
        call("payment/SELECT fraud_rules", 1.0, Sequential),
    ]),
    op("payment", "SELECT fraud_rules", db("postgresql", "SELECT", "fraud_rules", "payments-db"), 2.0, 0.5, &[]),
    op("payment", "payment:ChargeCard", HttpClient { method: "POST", url: "https://psp.example.com/v1/charges", peer: "psp.example.com" }, 120.0, 0.4, &[]),
    // shipping
    op("shipping", "shipping:Quote", rpc("oteldemo.ShippingService", "GetQuote"), 2.0, 0.5, &[
        call("currency/currency:Convert", 1.0, Sequential),
    ]),
    op("shipping", "shipping:ShipOrder", rpc("oteldemo.ShippingService", "ShipOrder"), 3.0, 0.5, &[
        call("shipping/INSERT shipments", 1.0, Sequential),
    ]),
    op("shipping", "INSERT shipments", db("postgresql", "INSERT", "shipments", "shipping-db"), 3.0, 0.5, &[]),
    // currency
    op("currency", "currency:Convert", rpc("oteldemo.CurrencyService", "Convert"), 0.3, 0.4, &[]),
    op("currency", "currency:GetSupportedCurrencies", rpc("oteldemo.CurrencyService", "GetSupportedCurrencies"), 0.2, 0.4, &[]),
    // email: reached through the orders topic, or rendering invoices.
    op("email", "email:SendOrderConfirmation", Messaging { destination: "orders", operation: "process" }, 5.0, 0.5, &[
        call("email/email:RenderTemplate", 1.0, Sequential),
        call("email/email:DeliverMail", 1.0, Sequential),
    ]),
    op("email", "email:RenderTemplate", Internal, 3.0, 0.5, &[
        call("email/SELECT templates", 0.5, Sequential),
    ]),
    op("email", "SELECT templates", db("postgresql", "SELECT", "templates", "email-db"), 2.0, 0.5, &[]),
    op("email", "email:DeliverMail", HttpClient { method: "POST", url: "https://mail.example.com/v3/send", peer: "mail.example.com" }, 60.0, 0.5, &[]),
    op("email", "email:RenderInvoice", rpc("oteldemo.EmailService", "RenderInvoice"), 20.0, 0.5, &[
        call("email/email:RenderTemplate", 1.0, Sequential),
    ]),
    // recommendation
    op("recommendation", "recommendation:ListRecommendations", rpc("oteldemo.RecommendationService", "ListRecommendations"), 8.0, 0.6, &[
        call("catalog/catalog:ListProducts", 0.8, Sequential),
        fan("catalog/catalog:GetProduct", 0.3, 1, 4, Parallel),
    ]),
    // ad
    op("ad", "ad:GetAds", rpc("oteldemo.AdService", "GetAds"), 2.0, 0.5, &[
        call("ad/GET ads", 1.0, Sequential),
    ]),
    op("ad", "GET ads", db("redis", "GET", "ads", "ad-cache"), 0.3, 0.5, &[]),
    op("ad", "ad:RecordImpression", Internal, 1.0, 0.5, &[]),
    // inventory: a queue consumer and a periodic job.
    op("inventory", "inventory:GetStock", rpc("oteldemo.InventoryService", "GetStock"), 1.0, 0.5, &[
        call("inventory/SELECT stock", 1.0, Sequential),
    ]),
    op("inventory", "inventory:ReserveStock", Messaging { destination: "orders", operation: "process" }, 3.0, 0.5, &[
        fan("inventory/UPDATE stock", 1.0, 1, 8, Sequential),
    ]),
    op("inventory", "inventory:ReconcileStock", Internal, 30.0, 0.5, &[
        fan("inventory/SELECT stock", 1.0, 1, 3, Sequential),
        fan("inventory/UPDATE stock", 1.0, 1, 8, Sequential),
    ]),
    op("inventory", "SELECT stock", db("postgresql", "SELECT", "stock", "inventory-db"), 2.0, 0.5, &[]),
    op("inventory", "UPDATE stock", db("postgresql", "UPDATE", "stock", "inventory-db"), 3.0, 0.5, &[]),
];

/// Root operations and their relative volumes: health checks and page views dominate; checkout
/// is a few percent; invoices and the admin reindex are rare enough that only a stratified
/// sample keeps them.
pub(crate) const ROOTS: &[(&str, f64)] = &[
    ("frontend/GET /api/products/{id}", 22.0),
    ("frontend/GET /", 20.0),
    ("frontend/GET /healthz", 18.0),
    ("frontend/GET /api/cart", 12.0),
    ("frontend/GET /api/recommendations", 8.0),
    ("frontend/POST /api/cart", 7.0),
    ("frontend/POST /api/login", 4.0),
    ("frontend/POST /api/checkout", 2.5),
    ("inventory/inventory:ReconcileStock", 1.5),
    ("frontend/GET /api/orders/{id}/invoice", 0.25),
    ("frontend/POST /api/admin/reindex", 0.04),
];

/// Deepest call tree, counting the root as depth 1.
pub(crate) const MAX_DEPTH: u8 = 6;

/// What goes wrong in each service when it fails: the exception type and message of its error
/// spans. Parallel to [`SERVICES`].
pub(crate) const FAILURES: &[(&str, &str)] = &[
    ("UpstreamError", "upstream request failed"),
    ("TokenStoreUnavailable", "session store timed out"),
    ("RedisConnectionException", "cart cache unavailable"),
    ("QueryTimeout", "catalog query timed out after 2s"),
    ("OrderPlacementError", "could not place order"),
    (
        "PaymentProviderUnavailable",
        "payment provider returned 503",
    ),
    ("QuoteError", "shipping quote service failed"),
    ("RateUnavailable", "conversion rate unavailable"),
    ("SmtpError", "mail relay refused connection"),
    ("ModelServingTimeout", "recommendation model timed out"),
    ("AdStoreUnavailable", "ad store unavailable"),
    ("StockLockTimeout", "could not lock stock row"),
];
