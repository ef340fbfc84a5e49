// Copy buttons: an enhancement; every value is also in a read-only field.
document.querySelectorAll("button.copybtn").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    var input = document.getElementById(b.getAttribute("data-copy"));
    if (!input) return;
    var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
    } else {
      input.select();
      document.execCommand("copy");
      done();
    }
  });
});
