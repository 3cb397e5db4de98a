//! Generated FA(3) invoices for the packaging benchmark and the RSS example: seller
//! [`SELLER_NIP`], the elements the emulator's FA(3) check requires (so an uploaded batch is
//! accepted, not only packaged), and line items varied enough that deflate works on realistic
//! redundancy rather than on repeated bytes.

/// The seller of every generated invoice (the context the RSS example logs in to).
#[allow(dead_code)] // Used by the RSS example, not by the packaging bench.
pub const SELLER_NIP: &str = "5265877635";

/// A small deterministic PRNG (xorshift64*).
#[derive(Debug)]
pub struct Prng(pub u64);

impl Prng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

const WORDS: &[&str] = &[
    "Usługa",
    "konsultingowa",
    "Licencja",
    "oprogramowania",
    "Serwis",
    "miesięczny",
    "Transport",
    "materiałów",
    "Szkolenie",
    "pracowników",
    "Dostawa",
    "części",
    "zamiennych",
    "Wynajem",
    "sprzętu",
    "biurowego",
    "Projekt",
];

/// One invoice of about `target` bytes (never much more than `target + 600`).
pub fn invoice(i: u64, target: usize) -> Vec<u8> {
    let mut r = Prng(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut s = String::with_capacity(target + 1024);
    s.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Faktura xmlns=\"http://crd.gov.pl/wzor/2025/06/25/13775/\">\n",
    );
    s.push_str(&format!(
        "<Naglowek><KodFormularza kodSystemowy=\"FA (3)\" wersjaSchemy=\"1-0E\">FA</KodFormularza><WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>2026-02-01T10:{:02}:{:02}Z</DataWytworzeniaFa></Naglowek>\n",
        r.next_u64() % 60,
        r.next_u64() % 60
    ));
    s.push_str(&format!(
        "<Podmiot1><DaneIdentyfikacyjne><NIP>{SELLER_NIP}</NIP><Nazwa>Sprzedawca {} sp. z o.o.</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Przykładowa {}, 00-950 Warszawa</AdresL1></Adres></Podmiot1>\n<Podmiot2><DaneIdentyfikacyjne><NIP>52{:08}</NIP><Nazwa>Nabywca {}</Nazwa></DaneIdentyfikacyjne><JST>2</JST><GV>2</GV></Podmiot2>\n<Fa><KodWaluty>PLN</KodWaluty><P_1>2026-02-01</P_1><P_2>FV/{}/02/2026</P_2><P_13_1>100.00</P_13_1><P_14_1>23.00</P_14_1><P_15>123.00</P_15><Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A><Zwolnienie><P_19N>1</P_19N></Zwolnienie><NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy></Adnotacje><RodzajFaktury>VAT</RodzajFaktury>\n",
        r.next_u64() % 1000,
        r.next_u64() % 200 + 1,
        r.next_u64() % 100_000_000,
        r.next_u64() % 1000,
        i
    ));
    let mut n = 1;
    while s.len() < target {
        let w1 = WORDS[(r.next_u64() % WORDS.len() as u64) as usize];
        let w2 = WORDS[(r.next_u64() % WORDS.len() as u64) as usize];
        let qty = r.next_u64() % 100 + 1;
        let price = r.next_u64() % 1_000_000;
        s.push_str(&format!(
            "<FaWiersz><NrWierszaFa>{n}</NrWierszaFa><P_7>{w1} {w2} nr {}</P_7><P_8A>szt.</P_8A><P_8B>{qty}</P_8B><P_9A>{}.{:02}</P_9A><P_11>{}.{:02}</P_11><P_12>23</P_12></FaWiersz>\n",
            r.next_u64() % 100_000,
            price / 100,
            price % 100,
            price * qty / 100,
            price * qty % 100
        ));
        n += 1;
    }
    s.push_str("</Fa>\n</Faktura>\n");
    s.into_bytes()
}

/// Invoice size giving `total` bytes in at most 10 000 invoices (KSeF's per-session limit),
/// capped below the 1 MB invoice limit.
pub fn invoice_size_for(total: u64) -> usize {
    (total / 9_000).clamp(4_000, 900_000) as usize
}
