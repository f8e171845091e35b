(function(){
  var base = new URL('.', location.href);
  document.querySelectorAll('[data-feed]').forEach(function(el){
    var url = new URL(el.getAttribute('data-feed'), base).href;
    var kind = el.getAttribute('data-kind');
    var wc = url.replace(/^https?:/, 'webcal:');
    if (kind === 'apple') el.href = wc;
    else if (kind === 'google') el.href = 'https://calendar.google.com/calendar/r?cid=' + encodeURIComponent(wc);
    else if (kind === 'outlook' || kind === 'office') el.href = el.getAttribute('data-add') + '?url=' + encodeURIComponent(url) + '&name=' + encodeURIComponent(el.getAttribute('data-name'));
    else if (kind === 'copy') el.value = url;
  });
  document.querySelectorAll('button[data-copy]').forEach(function(b){
    b.hidden = false;
    b.addEventListener('click', function(){
      var input = document.getElementById(b.getAttribute('data-copy'));
      input.select();
      if (navigator.clipboard) navigator.clipboard.writeText(input.value).catch(function(){});
      b.textContent = 'Copied';
    });
  });
  var find = document.getElementById('find');
  if (find) {
    find.form.hidden = false;
    var entries = document.querySelectorAll('.plans > li');
    var count = document.getElementById('find-count');
    // Found as typed on any keyboard: "emile" finds Émile, "soren" Søren, "lukasz" Łukasz.
    var letters = {'ø': 'o', 'ł': 'l', 'æ': 'ae', 'œ': 'oe', 'ß': 'ss', 'đ': 'd', 'ð': 'd', 'þ': 'th', 'ı': 'i'};
    var fold = function(text){
      return text.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '')
        .replace(/[øłæœßđðþı]/g, function(c){ return letters[c]; });
    };
    find.addEventListener('input', function(){
      var words = fold(find.value).split(/\s+/).filter(Boolean), shown = 0;
      entries.forEach(function(li){
        var text = fold(li.textContent);
        li.hidden = !words.every(function(w){ return text.indexOf(w) >= 0; });
        if (!li.hidden) shown++;
      });
      count.textContent = words.length ? shown + ' of ' + entries.length : '';
    });
  }
  var today = new Date().toISOString().slice(0, 10);
  var past = document.getElementById('past-list');
  document.querySelectorAll('#upcoming-list > li').forEach(function(li){
    if (past && li.getAttribute('data-end') < today) past.insertBefore(li, past.firstChild);
  });
})();
