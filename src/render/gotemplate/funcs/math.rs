//! sprig's math functions: integer arithmetic (`add`, `add1`, `sub`, `mul`, `div`, `mod`, `max`,
//! `min`, `biggest`), float arithmetic (`addf`, `add1f`, `subf`, `mulf`, `divf`, `maxf`, `minf`,
//! `floor`, `ceil`, `round`) and integer sequences (`until`, `untilStep`, `seq`).
//!
//! Stage: render (pure; no I/O). Integer functions compute on `int64`, as sprig, and wrap around
//! on overflow as Go's integers do (never a panic).

use minijinja::Value as J;

use super::{Func, arg_at};
use crate::render::gotemplate::value::{to_f64, to_i64};

pub(super) const FUNCS: &[Func] = &[
    Func::new("add", 0, true, add),
    Func::new("add1", 1, false, add1),
    Func::new("add1f", 1, false, add1f),
    Func::new("addf", 0, true, addf),
    Func::new("biggest", 1, true, max),
    Func::new("ceil", 1, false, ceil),
    Func::new("div", 2, false, div),
    Func::new("divf", 1, true, divf),
    Func::new("floor", 1, false, floor),
    Func::new("max", 1, true, max),
    Func::new("maxf", 1, true, maxf),
    Func::new("min", 1, true, min),
    Func::new("minf", 1, true, minf),
    Func::new("mod", 2, false, modulo),
    Func::new("mul", 1, true, mul),
    Func::new("mulf", 1, true, mulf),
    Func::new("round", 2, true, round),
    Func::new("seq", 0, true, seq_fn),
    Func::new("sub", 2, false, sub),
    Func::new("subf", 1, true, subf),
    Func::new("until", 1, false, until),
    Func::new("untilStep", 3, false, until_step_fn),
];

fn add(a: &[J]) -> Result<J, String> {
    Ok(J::from(a.iter().map(to_i64).fold(0i64, i64::wrapping_add)))
}

fn add1(a: &[J]) -> Result<J, String> {
    Ok(J::from(to_i64(&a[0]).wrapping_add(1)))
}

fn sub(a: &[J]) -> Result<J, String> {
    Ok(J::from(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))))
}

fn mul(a: &[J]) -> Result<J, String> {
    Ok(J::from(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul)))
}

fn div(a: &[J]) -> Result<J, String> {
    let d = to_i64(&a[1]);
    if d == 0 {
        return Err("runtime error: integer divide by zero".into());
    }
    Ok(J::from(to_i64(&a[0]).wrapping_div(d)))
}

fn modulo(a: &[J]) -> Result<J, String> {
    let d = to_i64(&a[1]);
    if d == 0 {
        return Err("runtime error: integer divide by zero".into());
    }
    Ok(J::from(to_i64(&a[0]).wrapping_rem(d)))
}

/// `max` and `biggest`.
fn max(a: &[J]) -> Result<J, String> {
    Ok(J::from(a.iter().map(to_i64).max().unwrap_or(0)))
}

fn min(a: &[J]) -> Result<J, String> {
    Ok(J::from(a.iter().map(to_i64).min().unwrap_or(0)))
}

fn floor(a: &[J]) -> Result<J, String> {
    Ok(J::from(to_f64(&a[0]).floor()))
}

fn ceil(a: &[J]) -> Result<J, String> {
    Ok(J::from(to_f64(&a[0]).ceil()))
}

/// `round X PLACES [ROUND_ON]`: sprig rounds half up on the fraction's sign-less comparison
/// (Modf), so -2.4 → -3.
fn round(a: &[J]) -> Result<J, String> {
    let round_on = a.get(2).map_or(0.5, to_f64);
    let pow = 10f64.powf(a.get(1).map_or(0.0, to_f64));
    let digit = pow * to_f64(&arg_at(a, 0));
    let r = if digit.fract() >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(J::from(r / pow))
}

fn addf(a: &[J]) -> Result<J, String> {
    decimal_op(&J::from(0.0), a, "add")
}

fn add1f(a: &[J]) -> Result<J, String> {
    decimal_op(&arg_at(a, 0), &[J::from(1)], "add")
}

fn subf(a: &[J]) -> Result<J, String> {
    decimal_op(&arg_at(a, 0), a.get(1..).unwrap_or_default(), "sub")
}

fn mulf(a: &[J]) -> Result<J, String> {
    decimal_op(&arg_at(a, 0), a.get(1..).unwrap_or_default(), "mul")
}

fn divf(a: &[J]) -> Result<J, String> {
    decimal_op(&arg_at(a, 0), a.get(1..).unwrap_or_default(), "div")
}

fn maxf(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        a.iter().map(to_f64).fold(to_f64(&arg_at(a, 0)), f64::max),
    ))
}

fn minf(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        a.iter().map(to_f64).fold(to_f64(&arg_at(a, 0)), f64::min),
    ))
}

/// `until N`: 0..N, counting down for a negative N.
fn until(a: &[J]) -> Result<J, String> {
    let n = to_i64(&arg_at(a, 0));
    Ok(J::from(until_step(0, n, if n < 0 { -1 } else { 1 })?))
}

fn until_step_fn(a: &[J]) -> Result<J, String> {
    Ok(J::from(until_step(
        to_i64(&arg_at(a, 0)),
        to_i64(&arg_at(a, 1)),
        to_i64(&arg_at(a, 2)),
    )?))
}

fn seq_fn(a: &[J]) -> Result<J, String> {
    Ok(J::from(seq(a)?))
}

/// sprig's float functions: exact decimal arithmetic (shopspring/decimal) on the arguments'
/// shortest decimal forms, division rounded half away from zero to 16 places.
fn decimal_op(first: &J, rest: &[J], op: &str) -> Result<J, String> {
    use rust_decimal::{Decimal, RoundingStrategy};
    // decimal.NewFromFloat panics on NaN and infinities, Div on a zero divisor, in order.
    for (i, v) in std::iter::once(first).chain(rest).enumerate() {
        let f = to_f64(v);
        if !f.is_finite() {
            return Err(format!(
                "Cannot create a Decimal from {}",
                crate::text::go_format_float(f)
            ));
        }
        if i > 0 && op == "div" && f == 0.0 {
            return Err("decimal division by 0".into());
        }
    }
    let dec = |v: &J| -> Option<Decimal> { format!("{}", to_f64(v)).parse::<Decimal>().ok() };
    let exact = (|| {
        let mut acc = dec(first)?;
        for x in rest {
            let d = dec(x)?;
            acc = match op {
                "add" => acc.checked_add(d)?,
                "sub" => acc.checked_sub(d)?,
                "mul" => acc.checked_mul(d)?,
                _ if d.is_zero() => return Some(Err("decimal division by 0".to_string())),
                _ => acc
                    .checked_div(d)?
                    .round_dp_with_strategy(16, RoundingStrategy::MidpointAwayFromZero),
            };
        }
        Some(Ok(acc.to_string().parse::<f64>().unwrap_or(0.0)))
    })();
    let f = match exact {
        Some(r) => r?,
        // Out of the 96-bit decimal range: plain float arithmetic.
        None => rest.iter().map(to_f64).fold(to_f64(first), |acc, x| match op {
            "add" => acc + x,
            "sub" => acc - x,
            "mul" => acc * x,
            _ => acc / x,
        }),
    };
    Ok(J::from(f))
}

/// sprig's `untilStep` (Go's loop, empty when the step points away from `stop`).
fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    if (stop < start && step >= 0) || (stop >= start && step <= 0) {
        return Ok(Vec::new());
    }
    if (i128::from(stop) - i128::from(start)) / i128::from(step) > 100_000 {
        return Err("too many elements (more than 100000)".into());
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i);
        let Some(next) = i.checked_add(step) else {
            break;
        };
        i = next;
    }
    Ok(out)
}

/// sprig's `seq`: 1..=n, start..=end, or start..=end by step, as a space-separated string.
fn seq(a: &[J]) -> Result<String, String> {
    let p: Vec<i64> = a.iter().map(to_i64).collect();
    let list = match p.as_slice() {
        [] => Vec::new(),
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            until_step(1, end.wrapping_add(inc), inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step(*start, end.wrapping_add(step), step)?
        }
        [start, step, end] => {
            let inc = if end < start { -1 } else { 1 };
            if end < start && *step > 0 {
                Vec::new()
            } else {
                until_step(*start, end.wrapping_add(inc), *step)?
            }
        }
        _ => Vec::new(),
    };
    Ok(list.iter().map(i64::to_string).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> Vec<J> {
        v.iter().map(|i| J::from(*i)).collect()
    }

    #[test]
    fn integer_overflow_wraps_as_in_go_instead_of_panicking() {
        let (max, min) = (i64::MAX, i64::MIN);
        let int = |r: Result<J, String>| r.unwrap().as_i64().unwrap();
        assert_eq!(int(add(&ints(&[max, 1]))), min);
        assert_eq!(int(add1(&ints(&[max]))), min);
        assert_eq!(int(sub(&ints(&[min, 1]))), max);
        assert_eq!(int(mul(&ints(&[max, 2]))), -2);
        assert_eq!(int(div(&ints(&[min, -1]))), min);
        assert_eq!(int(modulo(&ints(&[min, -1]))), 0);
        // A float far out of range converts, then wraps; no panic either way.
        add(&[J::from(3), J::from(1e300)]).unwrap();
        mul(&[J::from(1e300), J::from(1e300)]).unwrap();
        // Sequences at the ends of the range stay bounded and do not overflow.
        assert_eq!(seq(&ints(&[max - 2, max])).unwrap(), "");
        assert_eq!(until_step(max - 2, max, 1).unwrap(), [max - 2, max - 1]);
        assert_eq!(until_step(min, max, max).unwrap(), [min, -1, max - 1]);
        assert!(until_step(min, max, 1).is_err(), "too many elements");
    }
}
